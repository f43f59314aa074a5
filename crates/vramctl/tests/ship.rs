//! `vramctl audit ship` without a collector (spec `COL-SHIP-005`): usage
//! errors and an unreachable collector are exit 2 before or without
//! changing anything, and the log is only read: its directory holds the
//! same files with the same bytes afterwards. The runs against a real
//! collector are in `crates/audit-collector/tests/ingest.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use audit_core::{AuditEvent, AuditLog, Severity};
use common::{SECRET, code, text, vramctl};
use seal_crypto::WorkerSecret;

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// COL-SHIP-005: a collector URL that is not plain http, a batch of 0, a
/// log that is not there are exit 2; a collector nobody answers for is
/// exit 2 with `--once` and says it is unavailable; the log's directory is
/// byte for byte as before.
#[test]
fn col_ship_005_usage_and_unreachable_collector_are_exit_2_and_the_log_is_only_read() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let key_file = dir.path().join("log.key");
    audit_core::save_log_key(
        &key_file,
        &audit_core::generate_log_key("worker-s").unwrap(),
    )
    .unwrap();
    {
        let secret = WorkerSecret::new(SECRET.as_bytes()).unwrap();
        let mut log = AuditLog::open(&db, "worker-s", &secret).unwrap();
        for i in 0..5 {
            log.append(
                &AuditEvent::custom(
                    "TestEvent",
                    Severity::Low,
                    None,
                    serde_json::json!({ "i": i }),
                )
                .unwrap(),
            )
            .unwrap();
        }
    }
    let before = files(dir.path());
    let db_arg = db.to_str().unwrap();
    let key_arg = key_file.to_str().unwrap();
    let unused = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", probe.local_addr().unwrap())
    };
    for (args, says) in [
        (
            vec!["--collector", "https://c.example"],
            "https is not supported",
        ),
        (vec!["--collector", "c.example"], "must start with http://"),
        (vec!["--collector", &unused, "--batch", "0"], "--batch"),
    ] {
        let mut all = vec!["audit", "ship", db_arg, "--once", "--key", key_arg];
        all.extend(args);
        let out = vramctl(&all);
        assert_eq!(code(&out), 2, "{all:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{all:?}: {}", text(&out));
    }
    let missing = dir.path().join("missing.db");
    let out = vramctl(&[
        "audit",
        "ship",
        missing.to_str().unwrap(),
        "--collector",
        &unused,
        "--once",
    ]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(!missing.exists());

    let out = vramctl(&[
        "audit",
        "ship",
        db_arg,
        "--collector",
        &unused,
        "--key",
        key_arg,
        "--once",
        "--timeout-ms",
        "2000",
    ]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(
        text(&out).contains("the collector is unavailable"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("PRIVATE"), "{}", text(&out));
    let after = files(dir.path());
    let names = |m: &BTreeMap<String, Vec<u8>>| {
        m.iter()
            .map(|(k, v)| (k.clone(), v.len()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        after,
        before,
        "the log's directory changed: {:?} -> {:?}",
        names(&before),
        names(&after)
    );
}
