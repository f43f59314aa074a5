//! Helpers shared by vramctl's integration tests that need more than the
//! binary: a witness server, and an attacker's raw access to a log.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../../../test-support/witness_server.rs"]
pub mod witness_server;

#[path = "../../../../test-support/require_cuda.rs"]
pub mod require_cuda;

use std::process::{Command, Output};

/// The worker secret the tests give vramctl in its environment.
pub const SECRET: &str = "an-operator-secret-of-at-least-32-bytes!";

/// The vramctl binary with `SECRET` in its environment and no `RUST_LOG`
/// or `RUST_BACKTRACE` from the caller's.
pub fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vramctl"));
    command
        .env("VRAM_WORKER_SECRET", SECRET)
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE");
    command
}

/// Runs vramctl with the worker secret in its environment.
pub fn vramctl(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

/// Runs vramctl with no secret anywhere in its environment.
pub fn vramctl_without_secret(args: &[&str]) -> Output {
    bin()
        .env_remove("VRAM_WORKER_SECRET")
        .args(args)
        .output()
        .unwrap()
}

/// The exit code; a death by signal (abort, kill) fails the test here.
pub fn code(out: &Output) -> i32 {
    out.status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal: {:?}\n{}", out.status, text(out)))
}

/// Standard output, which must be UTF-8.
pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Standard output then standard error, lossily.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

use std::path::Path;

use rusqlite::OptionalExtension;

/// A raw connection with the append-only triggers dropped: the attacker's
/// view (as audit-core's tests/common has it).
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

/// Cuts the log back to its first `m` records, records and tree hashes
/// alike, and drops the signed checkpoints of more than `m` records: what
/// is left is the log as it was at `m` records.
pub fn cut_tail(conn: &rusqlite::Connection, m: u64) {
    conn.execute("DELETE FROM records WHERE seq > ?1", [m as i64])
        .unwrap();
    conn.execute("DELETE FROM checkpoints WHERE size > ?1", [m as i64])
        .unwrap();
    let keep = audit_core::tlog::stored_hash_count(m).unwrap();
    // The tree is stored in blocks (first, hashes): drop the blocks past
    // `keep` and re-insert the kept part of the block straddling it.
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
