//! `vramctl` end to end: the real binary, its output and exit codes
//! (0 success, 1 failed check, 2 usage or I/O).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use rusqlite::OptionalExtension;

/// A small demo run leaves an audit database in `dir`.
fn demo_db(dir: &Path) -> PathBuf {
    let db = dir.join("audit.db");
    let out = vramctl(&[
        "demo",
        "--size-mib",
        "4",
        "--audit-db",
        db.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    db
}

#[test]
fn help_on_every_subcommand() {
    for args in [
        &["--help"][..],
        &["demo", "--help"],
        &["seal", "--help"],
        &["audit", "--help"],
        &["audit", "verify", "--help"],
        &["audit", "query", "--help"],
        &["audit", "export", "--help"],
        &["audit", "checkpoint", "--help"],
        &["audit", "keygen", "--help"],
        &["audit", "prove", "--help"],
        &["audit", "prove", "inclusion", "--help"],
        &["audit", "prove", "consistency", "--help"],
        &["audit", "check-proof", "--help"],
        &["bench", "--help"],
        &["bench", "digest", "--help"],
        &["bench", "audit", "--help"],
        &["bench", "copy", "--help"],
        &["bench", "verify", "--help"],
    ] {
        let out = vramctl(args);
        assert_eq!(code(&out), 0, "{args:?}: {}", text(&out));
        assert!(text(&out).contains("Usage"), "{args:?}");
    }
    assert_eq!(code(&vramctl(&["no-such-command"])), 2);
    assert_eq!(code(&vramctl(&["demo", "--size-mib", "0"])), 2);
}

#[test]
fn demo_catches_the_flipped_bit_and_verifies_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let out = vramctl(&[
        "demo",
        "--size-mib",
        "8",
        "--audit-db",
        db.to_str().unwrap(),
    ]);
    let shown = text(&out);
    assert_eq!(code(&out), 0, "{shown}");
    for needle in [
        "backend: host (simulated)",
        "verify full (re-hash every byte)",
        "CAUGHT",
        "HMAC chain verified",
        "summary:",
    ] {
        assert!(shown.contains(needle), "missing {needle:?} in\n{shown}");
    }
    assert!(!shown.contains(SECRET));
    assert!(!shown.contains("0x7f"), "looks like a pointer:\n{shown}");
    let verify = vramctl(&["audit", "verify", db.to_str().unwrap()]);
    assert_eq!(code(&verify), 0, "{}", text(&verify));
}

#[test]
fn demo_creates_a_private_secret_when_none_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let out = vramctl_without_secret(&[
        "demo",
        "--size-mib",
        "2",
        "--audit-db",
        db.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let secret = dir.path().join("worker.secret");
    assert!(text(&out).contains(secret.to_str().unwrap()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn seal_prints_the_shard_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.bin");
    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 249) as u8).collect();
    std::fs::write(&model, &bytes).unwrap();
    let db = dir.path().join("a.db");
    let out = vramctl(&[
        "seal",
        model.to_str().unwrap(),
        "--audit-db",
        db.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["shard"]["shard_id"], "model.bin");
    assert_eq!(json["shard"]["bytes"], 3_000_000);
    let sha = Command::new("sha256sum").arg(&model).output().unwrap();
    let sha = String::from_utf8(sha.stdout).unwrap();
    assert_eq!(
        json["shard"]["digest"],
        sha.split_whitespace().next().unwrap()
    );
    assert_eq!(json["verified"]["mode"], "full");
    let query = vramctl(&["audit", "query", db.to_str().unwrap(), "--json"]);
    assert_eq!(code(&query), 0, "{}", text(&query));
    let records: serde_json::Value = serde_json::from_slice(&query.stdout).unwrap();
    let kinds: Vec<&str> = records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "VramAllocated",
            "VramSealed",
            "SealVerified",
            "VramDeallocated"
        ]
    );
}

#[test]
fn seal_refuses_bad_input_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.bin");
    std::fs::write(&empty, b"").unwrap();
    let missing = dir.path().join("missing.bin");
    let db = dir.path().join("a.db");
    for (file, needle) in [
        (missing.to_str().unwrap(), "cannot read"),
        (dir.path().to_str().unwrap(), "directory"),
        (empty.to_str().unwrap(), "empty"),
    ] {
        let out = vramctl(&["seal", file, "--audit-db", db.to_str().unwrap()]);
        assert_eq!(code(&out), 2, "{file}: {}", text(&out));
        assert!(text(&out).contains(needle), "{file}: {}", text(&out));
    }
    // No secret anywhere: a clear usage error.
    let model = dir.path().join("m.bin");
    std::fs::write(&model, b"weights").unwrap();
    let out = vramctl_without_secret(&[
        "seal",
        model.to_str().unwrap(),
        "--audit-db",
        db.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2);
    assert!(text(&out).contains("VRAM_WORKER_SECRET"), "{}", text(&out));
    // An id that breaks the rules.
    let out = vramctl(&[
        "seal",
        model.to_str().unwrap(),
        "--id",
        "../x",
        "--audit-db",
        db.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2, "{}", text(&out));
}

#[test]
fn tampered_audit_database_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_db(dir.path());
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("DROP TRIGGER records_no_update;")
        .unwrap();
    conn.execute(
        "UPDATE records SET event = replace(event, 'demo-model', 'evil-model') WHERE seq = 2",
        [],
    )
    .unwrap();
    drop(conn);
    let out = vramctl(&["audit", "verify", db.to_str().unwrap()]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("FAILED"), "{}", text(&out));
    assert!(
        text(&out).contains("FAILED: record 2: MAC mismatch"),
        "the report names the record and the reason: {}",
        text(&out)
    );
}

#[test]
fn truncation_is_caught_against_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_db(dir.path());
    let cp = dir.path().join("head.json");
    let out = vramctl(&[
        "audit",
        "checkpoint",
        db.to_str().unwrap(),
        "--out",
        cp.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let ok = vramctl(&[
        "audit",
        "verify",
        db.to_str().unwrap(),
        "--checkpoint",
        cp.to_str().unwrap(),
    ]);
    assert_eq!(code(&ok), 0, "{}", text(&ok));
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("DROP TRIGGER records_no_delete; DELETE FROM records WHERE seq = (SELECT MAX(seq) FROM records);")
        .unwrap();
    // And the Merkle tree's hashes of that record, as an attacker who knows
    // the layout would (a cut of the records alone is caught by the tree).
    let head: i64 = conn
        .query_row("SELECT MAX(seq) FROM records", [], |r| r.get(0))
        .unwrap();
    let keep = audit_core::tlog::stored_hash_count(head as u64).unwrap();
    // The tree is stored in blocks (one row per batch): the blocks past
    // `keep` go, and the one straddling it comes back with its kept prefix.
    conn.execute_batch("DROP TRIGGER tree_no_delete;").unwrap();
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
        conn.execute(
            "INSERT INTO tree (first, hashes) VALUES (?1, ?2)",
            rusqlite::params![first, &hashes[..(keep as usize - first as usize) * 32]],
        )
        .unwrap();
    }
    drop(conn);
    // The chain alone still verifies: only the checkpoint shows the cut.
    assert_eq!(
        code(&vramctl(&["audit", "verify", db.to_str().unwrap()])),
        0
    );
    let cut = vramctl(&[
        "audit",
        "verify",
        db.to_str().unwrap(),
        "--checkpoint",
        cp.to_str().unwrap(),
    ]);
    assert_eq!(code(&cut), 1, "{}", text(&cut));
    assert!(
        text(&cut).to_lowercase().contains("truncat"),
        "{}",
        text(&cut)
    );
}

#[test]
fn another_workers_log_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_db(dir.path());
    let out = vramctl(&[
        "audit",
        "verify",
        db.to_str().unwrap(),
        "--worker-id",
        "someone-else",
    ]);
    assert_eq!(code(&out), 1, "{}", text(&out));
}

#[test]
fn export_is_one_record_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_db(dir.path());
    let out_file = dir.path().join("log.ndjson");
    let out = vramctl(&[
        "audit",
        "export",
        db.to_str().unwrap(),
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let lines = std::fs::read_to_string(&out_file).unwrap();
    let records: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(records.len() >= 5);
    assert!(
        records
            .iter()
            .all(|r| r["mac"].is_string() && r["prev_mac"].is_string())
    );
    let table = vramctl(&[
        "audit",
        "query",
        db.to_str().unwrap(),
        "--kind",
        "SealVerificationFailed",
    ]);
    assert_eq!(code(&table), 0);
    assert!(text(&table).contains("1 records"), "{}", text(&table));
}

#[test]
fn missing_database_exits_2() {
    let out = vramctl(&["audit", "verify", "/nonexistent/audit.db"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
}

#[test]
fn benches_print_figures_beside_baselines() {
    let out = vramctl(&[
        "bench",
        "digest",
        "--size-mib",
        "4",
        "--rounds",
        "1",
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("sha256sum"), "{}", text(&out));
    let out = vramctl(&[
        "bench",
        "copy",
        "--size-mib",
        "8",
        "--runs",
        "1",
        "--backend",
        "host",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let out = vramctl(&[
        "bench",
        "audit",
        "--events",
        "2000",
        "--proof-leaves",
        "5000",
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let json: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(json["written"], json["events"]);
    // AC-098: the proof figures beside the verify rates.
    assert_eq!(json["proofs"]["leaves"], 5000);
    assert!(json["proofs"]["inclusion_median_us"].as_f64().unwrap() > 0.0);
    assert!(json["public_verify_records_per_s"].as_f64().unwrap() > 0.0);
    assert!(text(&out).contains("inclusion proof"), "{}", text(&out));
    // VR-VER-007: in place beside the host path and the copy bandwidth.
    let out = vramctl(&[
        "bench",
        "verify",
        "--size-mib",
        "3",
        "--runs",
        "1",
        "--backend",
        "host",
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("host path (copy back + CPU hash)"),
        "{}",
        text(&out)
    );
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let json: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(
        (json["chunks"].as_u64(), json["bytes"].as_u64()),
        (Some(3), Some(3 << 20))
    );
    for key in ["in_place_gbps", "host_path_gbps", "copy_back_gbps"] {
        assert!(json[key].as_f64().unwrap() > 0.0, "{key}: {json}");
    }
    // CUDA asked for and absent: an error, never the simulated device.
    if !gpu_alloc::cuda::driver_present() {
        let out = vramctl(&["bench", "verify", "--size-mib", "1", "--backend", "cuda"]);
        assert_eq!(code(&out), 2, "{}", text(&out));
        assert!(
            text(&out).contains("no CUDA driver found"),
            "{}",
            text(&out)
        );
    }
}

/// GA-018, GA-022: `--backend cuda` without a driver is a clean usage error
/// (exit 2, "no CUDA driver found", no panic) before anything is written,
/// never a run on the simulated device. Under `VRAM_REQUIRE_CUDA=1` no
/// driver fails the test instead.
#[test]
fn ga_018_ga_022_backend_cuda_without_a_driver_fails_cleanly_never_falls_back() {
    if gpu_alloc::cuda::driver_present() {
        eprintln!("CUDA driver present: the no-driver path is not exercised on this machine");
        return;
    }
    require_cuda::did_not_run(
        "vramctl --backend cuda",
        "no CUDA driver found (checking the no-driver path only)",
    );
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let model = dir.path().join("model.bin");
    std::fs::write(&model, [7u8; 4096]).unwrap();
    for args in [
        &[
            "demo",
            "--backend",
            "cuda",
            "--size-mib",
            "2",
            "--audit-db",
            db.to_str().unwrap(),
        ][..],
        &[
            "bench",
            "copy",
            "--backend",
            "cuda",
            "--size-mib",
            "2",
            "--runs",
            "1",
        ],
        &[
            "seal",
            "--backend",
            "cuda",
            model.to_str().unwrap(),
            "--audit-db",
            db.to_str().unwrap(),
        ],
    ] {
        let out = vramctl(args);
        let shown = text(&out);
        assert_eq!(code(&out), 2, "{args:?}: {shown}");
        assert!(shown.contains("no CUDA driver found"), "{args:?}: {shown}");
        // Only the error: no device line, no policy check, no run.
        for needle in ["panicked", "backend:", "policy:", "RUST_BACKTRACE"] {
            assert!(!shown.contains(needle), "{args:?}: {needle:?} in\n{shown}");
        }
        assert!(!db.exists(), "{args:?} wrote an audit log");
    }
}

#[test]
fn demo_keeps_an_existing_secret() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let run = || {
        vramctl_without_secret(&[
            "demo",
            "--size-mib",
            "2",
            "--audit-db",
            db.to_str().unwrap(),
        ])
    };
    let first = run();
    assert_eq!(code(&first), 0, "{}", text(&first));
    let secret = std::fs::read(dir.path().join("worker.secret")).unwrap();
    let second = run();
    assert_eq!(code(&second), 0, "{}", text(&second));
    assert_eq!(
        std::fs::read(dir.path().join("worker.secret")).unwrap(),
        secret
    );
}

#[test]
fn checkpoint_refuses_a_broken_log_and_bad_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_db(dir.path());
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "not json").unwrap();
    let out = vramctl(&[
        "audit",
        "verify",
        db.to_str().unwrap(),
        "--checkpoint",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let out = vramctl(&[
        "audit",
        "verify",
        db.to_str().unwrap(),
        "--from",
        "5",
        "--to",
        "3",
    ]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "DROP TRIGGER records_no_update; UPDATE records SET kind = 'X' WHERE seq = 3;",
    )
    .unwrap();
    drop(conn);
    let cp = dir.path().join("head.json");
    let out = vramctl(&[
        "audit",
        "checkpoint",
        db.to_str().unwrap(),
        "--out",
        cp.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(!cp.exists());
}
