//! AC-024: the writer's memory is bounded by its queue, measured with a
//! counting allocator (this test binary's global allocator), not assumed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

#[path = "../../../test-support/counting_alloc.rs"]
mod counting_alloc;

use audit_core::{AuditEvent, AuditWriter, EmitOutcome, Severity, WriterConfig};
use common::*;
use serde_json::json;

const PAYLOAD_BYTES: usize = 4096;

fn big_event(i: u64) -> AuditEvent {
    AuditEvent::custom(
        "Bulk",
        Severity::Low,
        None,
        json!({"i": i, "pad": "x".repeat(PAYLOAD_BYTES)}),
    )
    .unwrap()
}

/// AC-024: with the writer stalled (another connection holds the write
/// lock), emitting 5,000 events of 4 KiB (20 MiB) into a queue of 32 keeps
/// at most the queue and one batch alive; the rest are dropped and counted.
#[test]
fn ac_024_memory_is_bounded_by_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let config = WriterConfig {
        queue_capacity: 32,
        max_batch: 8,
    };
    let writer = AuditWriter::open(&path, WORKER, &secret(), config).unwrap();
    let blocker = rusqlite::Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();

    let mut dropped = 0u64;
    let total = 5_000u64;
    let ((), peak) = counting_alloc::peak_during(|| {
        for i in 0..total {
            if writer.emit(big_event(i)) == EmitOutcome::Dropped {
                dropped += 1;
            }
        }
    });
    // Queue (32) + the batch in the writer's hands (8) + slack for one
    // event in flight; every event is a little over 4 KiB.
    let bound = (32 + 8 + 8) * (PAYLOAD_BYTES + 1024);
    assert!(
        peak <= bound,
        "{peak} bytes alive at peak, more than the queue's bound of {bound}: memory is not bounded by the queue"
    );
    assert!(
        dropped >= total - 48,
        "only {dropped} of {total} dropped with a stalled writer"
    );
    assert!(writer.queued() > 0, "a stalled writer's queue holds events");
    blocker.execute_batch("ROLLBACK").unwrap();
    drop(blocker);
    let stats = writer.shutdown_blocking().unwrap();
    assert_eq!(stats.dropped, dropped);
}
