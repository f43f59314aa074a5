//! Crash safety (AC-047): a writer killed with SIGKILL mid-write loses at
//! most what was not flushed, and never leaves half a batch.
//!
//! The test re-runs this test binary as a child in "writer" mode (selected
//! by the `AUDIT_CRASH_DB` environment variable) and kills it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use audit_core::{AuditLog, AuditWriter, QueryFilter, WriterConfig};
use common::*;

const CHILD_ENV: &str = "AUDIT_CRASH_DB";

/// Child mode: writes forever, printing how many events are durable.
#[test]
fn crash_child_writer() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let start: u64 = std::env::var("AUDIT_CRASH_START").unwrap().parse().unwrap();
    let writer = AuditWriter::open(
        &path,
        WORKER,
        &secret(),
        WriterConfig::default().with_max_batch(256),
    )
    .unwrap();
    let mut i = start;
    loop {
        for _ in 0..300 {
            i += 1;
            writer.send_blocking(event(i)).unwrap();
        }
        writer.flush_blocking().unwrap();
        let mut out = std::io::stdout().lock();
        writeln!(out, "FLUSHED {i}").unwrap();
        out.flush().unwrap();
        // Keep writing without flushing, so a kill lands mid-batch.
        for _ in 0..700 {
            i += 1;
            writer.send_blocking(event(i)).unwrap();
        }
    }
}

fn run_and_kill(path: &std::path::Path, start: u64, kill_after: Duration) -> u64 {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_child_writer",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, path)
        .env("AUDIT_CRASH_START", start.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut flushed = start;
    let mut seen = 0;
    while seen < 3 {
        let line = lines.next().expect("child ended early").unwrap();
        if let Some(n) = line.strip_prefix("FLUSHED ") {
            flushed = n.trim().parse().unwrap();
            seen += 1;
        }
    }
    std::thread::sleep(kill_after);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    flushed
}

#[test]
fn ac_047_sigkill_mid_write_loses_only_unflushed_events() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let mut start = 0;
    for (round, delay_ms) in [0u64, 3, 17].into_iter().enumerate() {
        let flushed = run_and_kill(&path, start, Duration::from_millis(delay_ms));
        // Reopening as a writer checks the tail; a torn batch would fail here.
        let log = AuditLog::open(&path, WORKER, &secret()).unwrap();
        let report = log.verify(None).unwrap();
        assert!(report.is_ok(), "round {round}: {report:?}");
        let recs = log.query(&QueryFilter::default()).unwrap();
        let last_i = recs.last().unwrap().event["i"].as_u64().unwrap();
        assert!(
            last_i >= flushed,
            "round {round}: flushed {flushed} but only {last_i} survived"
        );
        // Whole batches only: the events present are exactly 1..=last_i, in order.
        assert!(
            recs.iter().zip(1..).all(|(r, i)| r.event["i"] == i),
            "round {round}: hole in the log"
        );
        assert_eq!(recs.len() as u64, last_i);
        start = last_i;
    }
}
