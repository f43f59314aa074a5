//! The writer: non-blocking emit, flush, backpressure, losses recorded,
//! Drop, runtimes (AC-020..AC-029), and queries (AC-055).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;

use audit_core::{
    AuditError, AuditEvent, AuditLog, AuditSink, AuditWriter, EmitOutcome, MemorySink, QueryFilter,
    Severity, WriterConfig, kinds,
};
use common::*;

fn open(dir: &std::path::Path, config: WriterConfig) -> (AuditWriter, std::path::PathBuf) {
    let path = dir.join("w.db");
    (
        AuditWriter::open(&path, WORKER, &secret(), config).unwrap(),
        path,
    )
}

fn records(path: &std::path::Path) -> Vec<audit_core::AuditRecord> {
    AuditLog::open_read(path, WORKER, &secret())
        .unwrap()
        .query(&QueryFilter::default())
        .unwrap()
}

#[test]
fn ac_020_flush_makes_everything_emitted_before_durable() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, path) = open(dir.path(), WriterConfig::default());
    for i in 1..=1000 {
        assert_eq!(writer.emit(event(i)), EmitOutcome::Queued);
    }
    writer.flush_blocking().unwrap();
    assert_eq!(writer.queued(), 0);
    assert_eq!(writer.worker_id(), WORKER);
    let shown = format!("{writer:?}");
    assert!(shown.contains(WORKER) && shown.contains("w.db"), "{shown}");
    let recs = records(&path);
    assert_eq!(recs.len(), 1000);
    assert!(
        recs.iter()
            .zip(1..)
            .all(|(r, seq)| r.seq == seq && r.event["i"] == seq)
    );
    assert!(verify(&path).is_ok());
    let stats = writer.shutdown_blocking().unwrap();
    assert_eq!((stats.written, stats.dropped), (1000, 0));
}

#[test]
fn ac_021_a_full_queue_drops_counts_and_records_the_gap() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, path) = open(
        dir.path(),
        WriterConfig::default()
            .with_queue_capacity(2)
            .with_max_batch(1),
    );
    let mut queued = 0u64;
    let mut dropped = 0u64;
    for i in 1..=3000 {
        match writer.emit(event(i)) {
            EmitOutcome::Queued => queued += 1,
            EmitOutcome::Dropped => dropped += 1,
            EmitOutcome::Closed => panic!("closed"),
        }
    }
    writer.flush_blocking().unwrap();
    assert!(dropped > 0, "the burst should overflow a queue of 2");
    assert_eq!(writer.stats().dropped, dropped);
    let recs = records(&path);
    let gaps: u64 = recs
        .iter()
        .filter(|r| r.kind == kinds::AUDIT_GAP)
        .map(|r| r.event["lost"].as_u64().unwrap())
        .sum();
    assert_eq!(gaps, dropped, "every drop is recorded");
    for gap in recs.iter().filter(|r| r.kind == kinds::AUDIT_GAP) {
        assert_eq!(gap.event["cause"], "queue full");
    }
    assert_eq!(
        recs.iter().filter(|r| r.kind == "TestEvent").count() as u64,
        queued
    );
    assert!(verify(&path).is_ok());
}

#[test]
fn ac_022_send_blocking_applies_backpressure_and_never_drops() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, path) = open(
        dir.path(),
        WriterConfig::default()
            .with_queue_capacity(4)
            .with_max_batch(8),
    );
    let writer = Arc::new(writer);
    let threads: Vec<_> = (0..2u64)
        .map(|t| {
            let w = Arc::clone(&writer);
            std::thread::spawn(move || {
                for i in 0..1000 {
                    w.send_blocking(event(t * 1000 + i + 1)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    writer.flush_blocking().unwrap();
    let recs = records(&path);
    assert_eq!(recs.len(), 2000);
    assert!(recs.iter().all(|r| r.kind == "TestEvent"));
    assert_eq!(writer.stats().dropped, 0);
}

/// AC-020: the async flush, alone, makes everything emitted before it
/// durable (1,000 events emitted faster than a batch is written).
#[test]
fn ac_020_async_flush_alone_makes_everything_durable() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, path) = open(dir.path(), WriterConfig::default());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for i in 1..=1000 {
        assert_eq!(writer.emit(event(i)), EmitOutcome::Queued);
    }
    rt.block_on(writer.flush()).unwrap();
    assert_eq!(records(&path).len(), 1000);
    rt.block_on(writer.shutdown()).unwrap();
}

#[test]
fn ac_023_async_send_and_flush_inside_a_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, path) = open(dir.path(), WriterConfig::default().with_queue_capacity(3));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let writer = rt.block_on(async move {
        for i in 1..=200 {
            writer.send(event(i)).await.unwrap();
        }
        writer.flush().await.unwrap();
        // Blocking calls inside the caller's runtime do not deadlock: the
        // writer runs on its own runtime.
        writer.send_blocking(event(201)).unwrap();
        writer.flush_blocking().unwrap();
        writer
    });
    assert_eq!(records(&path).len(), 201);
    let stats = rt.block_on(writer.shutdown()).unwrap();
    assert_eq!(stats.written, 201);
}

#[test]
fn ac_023_flush_blocking_from_a_multi_thread_runtime_worker() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, path) = open(dir.path(), WriterConfig::default().with_queue_capacity(2));
    let writer = Arc::new(writer);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let w = Arc::clone(&writer);
    rt.block_on(async move {
        tokio::spawn(async move {
            for i in 1..=50 {
                w.send_blocking(event(i)).unwrap();
            }
            w.flush_blocking().unwrap();
        })
        .await
        .unwrap();
    });
    assert_eq!(records(&path).len(), 50);
}

/// AC-023: a blocking call made on the writer's own runtime thread would
/// wait for itself; it returns `WouldDeadlock` instead (the writer names
/// its thread `audit-writer`), and the writer keeps working.
#[test]
fn ac_023_blocking_calls_on_the_writer_thread_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, path) = open(dir.path(), WriterConfig::default());
    let writer = Arc::new(writer);
    let w = Arc::clone(&writer);
    let outcomes = std::thread::Builder::new()
        .name("audit-writer".to_owned())
        .spawn(move || (w.flush_blocking(), w.send_blocking(event(1))))
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(outcomes.0, Err(AuditError::WouldDeadlock));
    assert_eq!(outcomes.1, Err(AuditError::WouldDeadlock));
    writer.send_blocking(event(2)).unwrap();
    writer.flush_blocking().unwrap();
    assert_eq!(records(&path).len(), 1);
}

struct Shard {
    sink: Arc<dyn AuditSink>,
}

impl Drop for Shard {
    fn drop(&mut self) {
        // What the facade does when a sealed shard is dropped.
        let _ = self
            .sink
            .emit(AuditEvent::vram_deallocated("shard-9", 4096, 0, 0));
    }
}

#[test]
fn ac_025_emit_from_drop_inside_and_outside_a_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, path) = open(dir.path(), WriterConfig::default());
    let sink: Arc<dyn AuditSink> = Arc::new(writer);
    drop(Shard {
        sink: Arc::clone(&sink),
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let s = Arc::clone(&sink);
    rt.block_on(async move { drop(Shard { sink: s }) });
    sink.flush_blocking().unwrap();
    let recs = records(&path);
    assert_eq!(recs.len(), 2);
    assert!(
        recs.iter()
            .all(|r| r.kind == kinds::VRAM_DEALLOCATED && r.shard_id.as_deref() == Some("shard-9"))
    );
    // Dropping the last handle inside a runtime drains without panicking.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async move {
        let _ = sink.emit(AuditEvent::seal_verified("shard-9", 0));
        drop(sink);
    });
    assert_eq!(records(&path).len(), 3);
}

#[test]
fn ac_026_shutdown_and_drop_drain_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, path) = open(
        dir.path(),
        WriterConfig::default().with_queue_capacity(20_000),
    );
    for i in 1..=10_000 {
        assert!(writer.emit(event(i)).is_queued());
    }
    let stats = writer.shutdown_blocking().unwrap();
    assert_eq!(stats.written, 10_000);
    assert_eq!(records(&path).len(), 10_000);

    let writer = AuditWriter::open(&path, WORKER, &secret(), WriterConfig::default()).unwrap();
    for i in 10_001..=10_500 {
        let _ = writer.emit(event(i));
    }
    drop(writer);
    assert_eq!(records(&path).len(), 10_500);
    assert!(verify(&path).is_ok());
}

#[test]
fn ac_027_a_failed_write_is_counted_and_recorded_later() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, path) = open(dir.path(), WriterConfig::default());
    writer.emit(event(1));
    writer.flush_blocking().unwrap();
    // Simulate a failing disk for one kind of event.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER fail_me BEFORE INSERT ON records WHEN NEW.kind = 'FailMe' \
         BEGIN SELECT RAISE(ABORT, 'simulated disk failure'); END;",
    )
    .unwrap();
    let failing =
        AuditEvent::custom("FailMe", Severity::High, None, serde_json::json!({})).unwrap();
    writer.emit(failing.clone());
    writer.emit(failing);
    // The flush reports the loss, or, when the failed batches were written
    // before the flush arrived, its own batch already recorded the loss
    // (an `AuditGap`): both keep AC-020's promise, depending on timing.
    match writer.flush_blocking() {
        Err(AuditError::WriteFailed { lost: 2, .. }) => {}
        Ok(()) => assert_eq!(writer.stats().gaps_recorded, 1, "the loss is on record"),
        other => panic!("{other:?}"),
    }
    assert_eq!(writer.stats().write_failed, 2);
    conn.execute_batch("DROP TRIGGER fail_me;").unwrap();
    writer.emit(event(2));
    writer.flush_blocking().unwrap();
    let recs = records(&path);
    let kinds: Vec<_> = recs.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds, ["TestEvent", "AuditGap", "TestEvent"]);
    assert_eq!(recs[1].event["lost"], 2);
    assert_eq!(recs[1].event["cause"], "write failure");
    assert!(verify(&path).is_ok());
}

#[test]
fn ac_028_critical_events_are_written_without_waiting_for_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, path) = open(dir.path(), WriterConfig::default().with_max_batch(10_000));
    let digest = seal_crypto::sha256(b"w");
    writer.emit(AuditEvent::seal_verification_failed(
        "s",
        "digest mismatch",
        &digest,
        None,
        0,
    ));
    // No flush: the writer does not wait for 10,000 events.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while AuditLog::open_read(&path, WORKER, &secret())
        .unwrap()
        .record_count()
        .unwrap()
        == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "critical event not written"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn ac_029_memory_sink_is_an_audit_sink() {
    let sink: Arc<dyn AuditSink> = Arc::new(MemorySink::new());
    assert_eq!(
        sink.emit(AuditEvent::seal_verified("a", 1)),
        EmitOutcome::Queued
    );
    sink.flush_blocking().unwrap();
    let mem = MemorySink::new();
    assert!(mem.is_empty());
    mem.emit(AuditEvent::seal_verified("a", 1));
    mem.send_blocking(AuditEvent::vram_deallocated("a", 1, 2, 0))
        .unwrap();
    assert_eq!((mem.len(), mem.is_empty()), (2, false));
    let kinds_of = |events: Vec<AuditEvent>| -> Vec<String> {
        events.iter().map(|e| e.kind().to_owned()).collect()
    };
    // `events` copies, `take` empties.
    assert_eq!(
        kinds_of(mem.events()),
        [kinds::SEAL_VERIFIED, kinds::VRAM_DEALLOCATED]
    );
    assert_eq!(mem.len(), 2);
    assert_eq!(
        kinds_of(mem.take()),
        [kinds::SEAL_VERIFIED, kinds::VRAM_DEALLOCATED]
    );
    assert!(mem.is_empty());
    assert!(mem.events().is_empty());
}

/// A sink that refuses everything, as a closed or full writer would.
#[derive(Debug)]
struct Refusing;

impl AuditSink for Refusing {
    fn emit(&self, _event: AuditEvent) -> EmitOutcome {
        EmitOutcome::Dropped
    }

    fn flush_blocking(&self) -> Result<(), AuditError> {
        Err(AuditError::WriterClosed)
    }
}

/// AC-029: what a sink says reaches its caller unchanged, also through an
/// `Arc`; `send_blocking`'s default refuses an event its sink did not queue.
#[test]
fn ac_029_a_sink_s_refusals_reach_the_caller() {
    assert!(EmitOutcome::Queued.is_queued());
    assert!(!EmitOutcome::Dropped.is_queued());
    assert!(!EmitOutcome::Closed.is_queued());
    for sink in [
        Arc::new(Refusing) as Arc<dyn AuditSink>,
        Arc::new(Arc::new(Refusing)),
    ] {
        assert_eq!(
            sink.emit(AuditEvent::seal_verified("a", 1)),
            EmitOutcome::Dropped
        );
        assert!(matches!(
            sink.send_blocking(AuditEvent::seal_verified("a", 1)),
            Err(AuditError::WriterClosed)
        ));
        assert!(matches!(
            sink.flush_blocking(),
            Err(AuditError::WriterClosed)
        ));
    }
    assert!(matches!(
        Refusing.send_blocking(AuditEvent::seal_verified("a", 1)),
        Err(AuditError::WriterClosed)
    ));
}

#[test]
fn ac_055_queries_filter_order_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "q.db", 40);
    let log = AuditLog::open_read(&path, WORKER, &secret()).unwrap();
    let all = log.query(&QueryFilter::default()).unwrap();
    assert_eq!(all.len(), 40);
    let crit = log
        .query(&QueryFilter::default().min_severity(Severity::Critical))
        .unwrap();
    assert!(crit.iter().all(|r| r.severity == Severity::Critical));
    assert_eq!(crit.len(), 10);
    let high_up = log
        .query(&QueryFilter::default().min_severity(Severity::High))
        .unwrap();
    assert_eq!(high_up.len(), 20);
    let shard = log
        .query(
            &QueryFilter::default()
                .shard_id("shard-1")
                .limit(3)
                .newest_first(),
        )
        .unwrap();
    assert_eq!(
        shard.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [40, 37, 34]
    );
    assert!(
        log.query(&QueryFilter::default().kind("Nope"))
            .unwrap()
            .is_empty()
    );
    let ts = all[9].timestamp;
    let since = log.query(&QueryFilter::default().since(ts)).unwrap();
    assert!(since.iter().all(|r| r.timestamp >= ts) && since.len() >= 31);
    let until = log.query(&QueryFilter::default().until(ts)).unwrap();
    assert!(until.iter().all(|r| r.timestamp < ts));
    assert_eq!(since.len() + until.len(), 40);
    let range = log.query(&QueryFilter::default().seq(5..=7)).unwrap();
    assert_eq!(range.iter().map(|r| r.seq).collect::<Vec<_>>(), [5, 6, 7]);
    // A record round-trips through JSON.
    let json = serde_json::to_string(&all[0]).unwrap();
    assert_eq!(
        serde_json::from_str::<audit_core::AuditRecord>(&json).unwrap(),
        all[0]
    );
}

/// AC-027: a reserve file shorter than `DISK_RESERVE_BYTES` (cut, or left
/// by a crash while it was written) is not taken for the reserve: the
/// writer writes it whole again.
#[test]
fn ac_027_a_short_reserve_is_written_whole_again() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, path) = open(dir.path(), WriterConfig::default());
    writer.emit(event(1));
    writer.flush_blocking().unwrap();
    writer.shutdown_blocking().unwrap();
    let reserve = dir.path().join("w.db-reserve");
    let full = audit_core::DISK_RESERVE_BYTES;
    assert_eq!(std::fs::metadata(&reserve).unwrap().len(), full);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&reserve)
        .unwrap()
        .set_len(1)
        .unwrap();
    let writer = AuditWriter::open(&path, WORKER, &secret(), WriterConfig::default()).unwrap();
    writer.emit(event(2));
    writer.flush_blocking().unwrap();
    writer.shutdown_blocking().unwrap();
    assert_eq!(std::fs::metadata(&reserve).unwrap().len(), full);
}

/// Holds the log's write lock from another connection until dropped, and
/// waits (at most 10 s) until the writer has taken everything queued: its
/// batch then waits on the lock, and what is emitted next stays queued.
fn stall(writer: &AuditWriter, path: &std::path::Path, first: AuditEvent) -> rusqlite::Connection {
    let blocker = rusqlite::Connection::open(path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    writer.emit(first);
    wait_queued(writer, 0);
    // Let the writer find its queue empty, so that its batch is closed.
    std::thread::sleep(std::time::Duration::from_millis(100));
    blocker
}

/// Waits (at most 10 s) until the writer's queue holds `n` commands.
fn wait_queued(writer: &AuditWriter, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while writer.queued() != n {
        assert!(
            std::time::Instant::now() < deadline,
            "queue never held {n} commands"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// AC-028: what queued up while a batch was written is written next in
/// transactions of at most `max_batch` events, not one by one and not in
/// one transaction beyond the cap.
#[test]
fn ac_028_queued_events_are_written_in_batches_of_at_most_max_batch() {
    let dir = tempfile::tempdir().unwrap();
    let config = WriterConfig::default().with_max_batch(100);
    let (writer, path) = open(dir.path(), config);
    let blocker = stall(&writer, &path, event(0));
    for i in 1..=450 {
        assert_eq!(writer.emit(event(i)), EmitOutcome::Queued);
    }
    assert_eq!(writer.queued(), 450);
    blocker.execute_batch("ROLLBACK").unwrap();
    drop(blocker);
    let stats = writer.shutdown_blocking().unwrap();
    assert_eq!((stats.written, stats.dropped), (451, 0));
    // The first event alone, then 450 in batches of 100: 100, 100, 100,
    // 100, 50.
    assert_eq!(stats.batches, 6, "{stats:?}");
    assert_eq!(records(&path).len(), 451);
}

/// AC-020, AC-028: a flush ends its batch: events queued behind it are not
/// written in the flushed transaction, even when the batch has room.
#[test]
fn ac_028_a_flush_ends_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let config = WriterConfig::default().with_max_batch(100);
    let (writer, path) = open(dir.path(), config);
    let writer = Arc::new(writer);
    let blocker = stall(&writer, &path, event(0));
    for i in 1..=10 {
        writer.emit(event(i));
    }
    let flusher = {
        let writer = Arc::clone(&writer);
        std::thread::spawn(move || writer.flush_blocking())
    };
    wait_queued(&writer, 11);
    for i in 11..=20 {
        writer.emit(event(i));
    }
    blocker.execute_batch("ROLLBACK").unwrap();
    drop(blocker);
    flusher.join().unwrap().unwrap();
    let writer = Arc::try_unwrap(writer).unwrap();
    let stats = writer.shutdown_blocking().unwrap();
    assert_eq!(stats.written, 21);
    // The first event; the ten before the flush; the ten after it.
    assert_eq!(stats.batches, 3, "{stats:?}");
}

/// AC-021, AC-027: the gap written after both drops and a failed write
/// counts both and names both causes.
#[test]
fn ac_027_a_gap_after_drops_and_a_failed_write_names_both() {
    let dir = tempfile::tempdir().unwrap();
    let config = WriterConfig {
        queue_capacity: 2,
        max_batch: 100,
    };
    let (writer, path) = open(dir.path(), config);
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER fail_me BEFORE INSERT ON records WHEN NEW.kind = 'FailMe' \
             BEGIN SELECT RAISE(ABORT, 'simulated disk failure'); END;",
        )
        .unwrap();
    let failing =
        AuditEvent::custom("FailMe", Severity::High, None, serde_json::json!({})).unwrap();
    // The failing event waits on the lock; two events fill the queue, five
    // are dropped; then the lock goes and the failing batch fails.
    let blocker = stall(&writer, &path, failing);
    assert_eq!(writer.emit(event(1)), EmitOutcome::Queued);
    assert_eq!(writer.emit(event(2)), EmitOutcome::Queued);
    for i in 3..=7 {
        assert_eq!(writer.emit(event(i)), EmitOutcome::Dropped);
    }
    blocker.execute_batch("ROLLBACK").unwrap();
    drop(blocker);
    writer.flush_blocking().unwrap();
    let recs = records(&path);
    let kinds: Vec<_> = recs.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds, ["AuditGap", "TestEvent", "TestEvent"]);
    assert_eq!(recs[0].event["lost"], 6);
    assert_eq!(recs[0].event["cause"], "queue full and write failure");
    let stats = writer.shutdown_blocking().unwrap();
    assert_eq!(
        (stats.dropped, stats.write_failed, stats.gaps_recorded),
        (5, 1, 1)
    );
}
