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
use rusqlite::OptionalExtension;
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
         DROP TRIGGER IF EXISTS anchors_only_retention; \
         DROP TRIGGER IF EXISTS tree_no_update; DROP TRIGGER IF EXISTS tree_no_delete; \
         DROP TRIGGER IF EXISTS tree_append_only; DROP TRIGGER IF EXISTS checkpoints_no_delete; \
         DROP TRIGGER IF EXISTS checkpoints_only_cosignatures; \
         DROP TRIGGER IF EXISTS checkpoints_append_only; PRAGMA ignore_check_constraints = ON;",
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

/// Cuts the log back to its first `m` records, records and tree hashes
/// alike, as an attacker who knows the layout would (what stays is exactly
/// the log as it was at `m` records, signed checkpoints aside).
pub fn cut_tail(conn: &rusqlite::Connection, m: u64) {
    conn.execute("DELETE FROM records WHERE seq > ?1", [m as i64])
        .unwrap();
    let keep = audit_core::tlog::stored_hash_count(m).unwrap();
    cut_tree(conn, keep);
}

/// Cuts the `tree` table back to its first `keep` stored hashes: the blocks
/// past them go, and the block straddling `keep` is re-inserted with only
/// its hashes below `keep` (the layout of a log that ended there).
pub fn cut_tree(conn: &rusqlite::Connection, keep: u64) {
    let straddling: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT first, hashes FROM tree WHERE first < ?1 AND first + length(hashes) / 32 > ?1",
            [keep as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .unwrap();
    conn.execute(
        "DELETE FROM tree WHERE first + length(hashes) / 32 > ?1",
        [keep as i64],
    )
    .unwrap();
    if let Some((first, hashes)) = straddling {
        let kept = &hashes[..(keep as usize - first as usize) * 32];
        conn.execute(
            "INSERT INTO tree (first, hashes) VALUES (?1, ?2)",
            rusqlite::params![first, kept],
        )
        .unwrap();
    }
}

/// Rewrites the stored hash at `index` as `bytes` (32 of them for an edit;
/// another length changes the block's length too): the block holding it is
/// updated with that piece replaced (the no-update trigger must be gone).
pub fn set_tree_hash(conn: &rusqlite::Connection, index: u64, bytes: &[u8]) {
    let (first, mut hashes): (i64, Vec<u8>) = conn
        .query_row(
            "SELECT first, hashes FROM tree WHERE first <= ?1 ORDER BY first DESC LIMIT 1",
            [index as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let at = (index as usize - first as usize) * 32;
    hashes.splice(at..at + 32, bytes.iter().copied());
    conn.execute(
        "UPDATE tree SET hashes = ?1 WHERE first = ?2",
        rusqlite::params![hashes, first],
    )
    .unwrap();
}

/// The log key of `WORKER` (a fixed seed: tests only).
pub fn log_key() -> audit_core::tlog::SignerKey {
    key_for(WORKER, 0x22)
}

/// An Ed25519 log key named after `worker`'s origin, from a fixed seed.
pub fn key_for(worker: &str, seed: u8) -> audit_core::tlog::SignerKey {
    audit_core::tlog::SignerKey::from_seed(
        &audit_core::log_origin(worker).unwrap(),
        audit_core::tlog::SignatureType::Ed25519,
        &[seed; 32],
    )
    .unwrap()
}

/// A witness's cosigner (0x04) key.
pub fn witness(name: &str, seed: u8) -> audit_core::tlog::SignerKey {
    audit_core::tlog::SignerKey::from_seed(
        name,
        audit_core::tlog::SignatureType::Cosignature,
        &[seed; 32],
    )
    .unwrap()
}

/// What a witness answers to an `add-checkpoint` request: its cosignature
/// line of the request's checkpoint, after checking the consistency proof
/// from `old_root` (ignored for `old 0`).
pub fn witness_cosigns(
    witness: &audit_core::tlog::SignerKey,
    request: &str,
    old_root: Option<&audit_core::tlog::Hash>,
    time: u64,
) -> String {
    let request = audit_core::tlog::AddCheckpointRequest::parse(request.as_bytes()).unwrap();
    let root = old_root.copied().unwrap_or(audit_core::tlog::EMPTY_ROOT);
    request.check_consistency(&root).unwrap();
    let mut note = audit_core::tlog::Note::new(request.checkpoint().text()).unwrap();
    note.cosign(witness, time).unwrap();
    format!("{}\n", note.signatures()[0])
}

/// Every file of the log (database, `-wal`, `-shm`) and its bytes.
pub fn snapshot_files(path: &Path) -> Vec<(PathBuf, Option<Vec<u8>>)> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            let file = PathBuf::from(name);
            let bytes = std::fs::read(&file).ok();
            (file, bytes)
        })
        .collect()
}
