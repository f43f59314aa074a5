//! AC-024: the writer's memory is bounded by its queue, measured with a
//! counting allocator (this test binary's global allocator), not assumed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use audit_core::{AuditEvent, AuditWriter, EmitOutcome, Severity, WriterConfig};
use common::*;
use serde_json::json;

/// Counts the bytes alive on the heap.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged and only
// counts sizes on the side.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's layout contract is passed on as it is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

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

    let before = LIVE.load(Ordering::Relaxed);
    let mut peak = 0usize;
    let mut dropped = 0u64;
    let total = 5_000u64;
    for i in 0..total {
        if writer.emit(big_event(i)) == EmitOutcome::Dropped {
            dropped += 1;
        }
        peak = peak.max(LIVE.load(Ordering::Relaxed).saturating_sub(before));
    }
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
    blocker.execute_batch("ROLLBACK").unwrap();
    drop(blocker);
    let stats = writer.shutdown_blocking().unwrap();
    assert_eq!(stats.dropped, dropped);
}
