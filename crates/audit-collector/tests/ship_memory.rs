//! The shipper's memory, measured by a counting allocator (its own test
//! binary: the counters are global): one batch, whatever the backlog and
//! whatever the size of the log, with the worker's writer holding the log
//! open (a live `-wal`). The collector is the `vram-auditd` process, so
//! its allocations are not counted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
#[path = "../../../test-support/counting_alloc.rs"]
mod counting_alloc;

use audit_ship::ship::{ShipConfig, Shipper};
use common::*;

fn file_len(path: &std::path::Path, suffix: &str) -> u64 {
    std::fs::metadata(format!("{}{suffix}", path.display())).map_or(0, |m| m.len())
}

/// COL-SHIP-001: shipping a backlog of 60,000 records in batches of 1,000
/// from a log its writer holds open peaks at a few MiB of heap, far below
/// the size of the log (a snapshot of the file in memory would be all of
/// it).
#[test]
fn col_ship_001_memory_is_one_batch_whatever_the_backlog() {
    let Some(db) = test_database("col_ship_001_memory") else {
        return;
    };
    const N: u64 = 60_000;
    let log = WorkerLog::new(WORKER, 0);
    let writer = log.open();
    log.append_many(N, "a");
    let on_disk = file_len(&log.db, "") + file_len(&log.db, "-wal");
    assert!(file_len(&log.db, "-wal") > 0, "the writer's -wal is live");
    runtime().block_on(async {
        audit_collector::migrate::migrate(&mut client(db.url()).await)
            .await
            .unwrap();
        audit_collector::registry::add_worker(
            &client(db.url()).await,
            &log.origin(),
            &log.vkey().to_string(),
        )
        .await
        .unwrap();
    });
    let keys = tempfile::tempdir().unwrap();
    let listen = free_address();
    let collector = Auditd::start(db.url(), &witness_key_file(keys.path()), &listen);
    let mut config = ShipConfig::new(&format!("http://{listen}")).unwrap();
    config.batch = 1_000;
    let mut shipper = Shipper::new(&log.db, config, Some(log.key.clone())).unwrap();
    let (held, peak) = counting_alloc::peak_during(|| shipper.ship_until_caught_up());
    assert_eq!(held.unwrap(), N);
    assert_eq!(shipper.status().records_stored, N);
    eprintln!(
        "COL-SHIP-001: shipped {N} records in batches of 1,000 with a heap peak of {:.1} MiB; the log and its -wal are {:.1} MiB",
        peak as f64 / (1 << 20) as f64,
        on_disk as f64 / (1 << 20) as f64
    );
    assert!(peak < 8 << 20, "peak {peak} bytes");
    assert!((peak as u64) < on_disk / 2, "peak {peak}, log {on_disk}");
    drop(writer);
    drop(collector);
}
