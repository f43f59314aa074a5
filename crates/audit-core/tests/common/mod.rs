//! Helpers shared by the integration tests.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod mount;

use std::path::{Path, PathBuf};

use audit_core::{AuditEvent, AuditLog, FailureReason, Severity, VerifyReport};
use seal_crypto::WorkerSecret;
use serde_json::json;

pub const WORKER: &str = "worker-a";

pub fn secret() -> WorkerSecret {
    WorkerSecret::new(&[0x11; 32]).unwrap()
}

/// Event number `i` (1-based, equal to the seq it will get in a fresh log),
/// with a unique marker in its payload.
pub fn event(i: u64) -> AuditEvent {
    let severity = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ][(i % 4) as usize];
    let shard = format!("shard-{}", i % 3);
    AuditEvent::custom(
        "TestEvent",
        severity,
        Some(&shard),
        json!({"i": i, "marker": format!("MARKER-{i:05}")}),
    )
    .unwrap()
}

/// A fresh log at `dir/name` with events 1..=n.
pub fn build(dir: &Path, name: &str, n: u64) -> PathBuf {
    let path = dir.join(name);
    let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
    let events: Vec<_> = (1..=n).map(event).collect();
    log.append_batch(&events).unwrap();
    path
}

/// A raw connection with the append-only triggers dropped: the attacker's view.
pub fn attacker(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "DROP TRIGGER IF EXISTS records_no_update; DROP TRIGGER IF EXISTS records_no_delete; \
         DROP TRIGGER IF EXISTS records_append_only; \
         DROP TRIGGER IF EXISTS anchors_only_retention; PRAGMA ignore_check_constraints = ON;",
    )
    .unwrap();
    conn
}

pub fn verify(path: &Path) -> VerifyReport {
    audit_core::verify_log(path, WORKER, &secret(), None).unwrap()
}

pub fn failure(report: &VerifyReport) -> (Option<u64>, FailureReason) {
    let f = report
        .failure
        .clone()
        .unwrap_or_else(|| panic!("expected a failure: {report:?}"));
    (f.seq, f.reason)
}

/// Moves records `from..` one place up, leaving `from` free.
pub fn make_room(conn: &rusqlite::Connection, from: u64) {
    conn.execute(
        "UPDATE records SET seq = -seq WHERE seq >= ?1",
        [from as i64],
    )
    .unwrap();
    conn.execute("UPDATE records SET seq = -seq + 1 WHERE seq < 0", [])
        .unwrap();
}

/// Inserts a copy of record `source` at position `at` (a replay).
pub fn insert_copy(conn: &rusqlite::Connection, source: u64, at: u64) {
    make_room(conn, at);
    conn.execute(
        "INSERT INTO records SELECT ?2, randomblob(16), ts_ns, kind, severity, worker_id, shard_id, event, prev_mac, mac FROM records WHERE seq = ?1",
        [source as i64, at as i64],
    )
    .unwrap();
}

/// Swaps the rows at positions `a` and `b`.
pub fn swap(conn: &rusqlite::Connection, a: u64, b: u64) {
    conn.execute("UPDATE records SET seq = -1 WHERE seq = ?1", [a as i64])
        .unwrap();
    conn.execute(
        "UPDATE records SET seq = ?1 WHERE seq = ?2",
        [a as i64, b as i64],
    )
    .unwrap();
    conn.execute("UPDATE records SET seq = ?1 WHERE seq = -1", [b as i64])
        .unwrap();
}
