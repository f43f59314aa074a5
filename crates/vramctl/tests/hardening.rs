//! `vramctl` against hostile surroundings: stdout that is full or closed,
//! huge or endless input files, audit records written by an attacker,
//! planted secrets and sizes beyond the machine (outside review, items 8 to
//! 13). The real binary, its output and its exit codes (0 success, 1 failed
//! check, 2 usage or I/O; never 101, never a signal).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const SECRET: &str = "an-operator-secret-of-at-least-32-bytes!";

fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vramctl"));
    command
        .env("VRAM_WORKER_SECRET", SECRET)
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE");
    command
}

fn vramctl(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

/// The exit code; a death by signal (abort, kill) fails the test here.
fn code(out: &Output) -> i32 {
    out.status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal: {:?}\n{}", out.status, text(out)))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A small demo run leaves an audit database in `dir`.
fn demo_db(dir: &Path) -> PathBuf {
    let db = dir.join("audit.db");
    let out = vramctl(&["demo", "--size-mib", "2", "--audit-db", s(&db)]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    db
}

/// Every command that prints, with what it needs prepared in `dir`.
fn printing_commands(dir: &Path) -> Vec<Vec<String>> {
    let db = demo_db(dir);
    let cp = dir.join("head.json");
    let out = vramctl(&["audit", "checkpoint", s(&db), "--out", s(&cp)]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let model = dir.join("model.bin");
    std::fs::write(&model, vec![7u8; 100_000]).unwrap();
    let db = s(&db).to_owned();
    let mut commands: Vec<Vec<String>> = [
        &["--help"][..],
        &["--version"],
        &["audit", "verify", &db],
        &["audit", "verify", &db, "--json"],
        &["audit", "verify", &db, "--checkpoint", s(&cp)],
        &["audit", "query", &db],
        &["audit", "query", &db, "--json"],
        &["audit", "export", &db],
        &["audit", "checkpoint", &db],
        &["bench", "digest", s(&model), "--rounds", "1", "--json"],
        &[
            "bench",
            "copy",
            "--size-mib",
            "1",
            "--runs",
            "1",
            "--backend",
            "host",
            "--json",
        ],
        &["bench", "audit", "--events", "200", "--json"],
    ]
    .iter()
    .map(|args| args.iter().map(|a| (*a).to_owned()).collect())
    .collect();
    for i in 0..2 {
        let demo_db = dir.join(format!("demo-{i}.db"));
        commands.push(
            ["demo", "--size-mib", "1", "--audit-db", s(&demo_db)]
                .map(str::to_owned)
                .to_vec(),
        );
        let seal_db = dir.join(format!("seal-{i}.db"));
        commands.push(
            ["seal", s(&model), "--audit-db", s(&seal_db)]
                .map(str::to_owned)
                .to_vec(),
        );
    }
    commands
}

fn dev_full() -> std::fs::File {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap()
}

/// Review item 8: stdout to /dev/full is exit 2 with a message naming
/// stdout; never a panic (exit 101).
#[test]
fn a_full_stdout_is_exit_2_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let commands = printing_commands(dir.path());
    // Each of demo and seal appears twice; use one of each here.
    for args in &commands {
        if args.iter().any(|a| a.ends_with("-1.db")) {
            continue;
        }
        let out = bin().args(args).stdout(dev_full()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(code(&out), 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot write to standard output"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// Review item 8: stdout a pipe whose reader has gone is a quiet stop (exit
/// 0, as ripgrep), with no panic message; a failed check still exits 1.
#[test]
fn a_closed_stdout_pipe_is_a_quiet_exit() {
    let dir = tempfile::tempdir().unwrap();
    let commands = printing_commands(dir.path());
    for args in &commands {
        if args.iter().any(|a| a.ends_with("-0.db")) {
            continue;
        }
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = bin().args(args).stdout(writer).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(code(&out), 0, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
    }
    // A failed verification is not hidden by a closed pipe.
    let db = dir.path().join("audit.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "DROP TRIGGER records_no_update; UPDATE records SET kind = 'X' WHERE seq = 2;",
    )
    .unwrap();
    drop(conn);
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = bin()
        .args(["audit", "verify", s(&db)])
        .stdout(writer)
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}", text(&out));
}

/// Review item 8: stderr that cannot be written (demo logs an ERROR when it
/// catches the flipped bit; a missing file is reported on stderr) never
/// panics.
#[test]
fn a_full_stderr_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let out = bin()
        .args(["demo", "--size-mib", "1", "--audit-db", s(&db)])
        .stdout(Stdio::null())
        .stderr(dev_full())
        .output()
        .unwrap();
    assert_eq!(code(&out), 0);
    let out = bin()
        .args(["audit", "verify", "/nonexistent/audit.db"])
        .stderr(dev_full())
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    let out = bin()
        .args(["no-such-command"])
        .stderr(dev_full())
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
}

const ATTACK: &[&str] = &[
    "\u{1b}", "\u{7}", "\u{9b}", "\u{202e}", "\u{2066}", "\u{7f}",
];

fn assert_no_terminal_control(what: &str, shown: &str) {
    for bad in ATTACK {
        assert!(
            !shown.contains(bad),
            "{what}: raw {bad:?} reaches the terminal:\n{shown:?}"
        );
    }
}

/// Review item 10: a tampered record (kind, shard id, worker id, event
/// holding escape sequences, C1 controls and bidi overrides) is shown with
/// those characters escaped, by every command; JSON output stays JSON.
#[test]
fn tampered_records_cannot_drive_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_db(dir.path());
    let kind = "Vram\u{1b}[2J\u{1b}]0;owned\u{7}Sealed";
    let shard = "x\u{9b}31m\u{202e}gpj.exe\nfake row";
    let worker = "vramctl\u{1b}[8m";
    let event = r#"{"note":"\u001b[31mred\u009b2J\u2066\u007f"}"#;
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("DROP TRIGGER records_no_update;")
        .unwrap();
    conn.execute(
        "UPDATE records SET kind = ?1, shard_id = ?2, event = ?3 WHERE seq = 2",
        rusqlite::params![kind, shard, event],
    )
    .unwrap();
    conn.execute(
        "UPDATE records SET worker_id = ?1 WHERE seq = 3",
        rusqlite::params![worker],
    )
    .unwrap();
    drop(conn);

    let table = vramctl(&["audit", "query", s(&db)]);
    assert_eq!(code(&table), 0, "{}", text(&table));
    assert_no_terminal_control("query", &text(&table));
    assert!(text(&table).contains("Vram\\u{1b}[2J"), "{}", text(&table));
    assert!(text(&table).contains("\\nfake row"), "{}", text(&table));

    let json = vramctl(&["audit", "query", s(&db), "--json"]);
    assert_eq!(code(&json), 0, "{}", text(&json));
    assert_no_terminal_control("query --json", &text(&json));
    let records: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(records[1]["kind"], kind);
    assert_eq!(records[1]["shard_id"], shard);
    assert_eq!(records[2]["worker_id"], worker);

    let export = vramctl(&["audit", "export", s(&db)]);
    assert_eq!(code(&export), 0, "{}", text(&export));
    assert_no_terminal_control("export", &text(&export));
    let lines: Vec<serde_json::Value> = String::from_utf8(export.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[1]["shard_id"], shard);

    for args in [
        &["audit", "verify", s(&db)][..],
        &["audit", "verify", s(&db), "--json"],
        &["audit", "checkpoint", s(&db)],
        &["audit", "verify", s(&db), "--worker-id", worker],
    ] {
        let out = vramctl(args);
        assert_ne!(code(&out), 0, "{args:?}: {}", text(&out));
        assert_no_terminal_control(&format!("{args:?}"), &text(&out));
    }

    // Paths and ids echoed in messages and in human output.
    let evil = dir.path().join("evil\u{1b}]0;title\u{7}\u{9b}2J.db");
    let out = vramctl(&["audit", "verify", s(&evil)]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert_no_terminal_control("missing path", &text(&out));
    assert!(text(&out).contains("evil\\u{1b}"), "{}", text(&out));
    let out = vramctl(&["demo", "--size-mib", "1", "--audit-db", s(&evil)]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_no_terminal_control("demo", &text(&out));
    let model = dir.path().join("m\u{1b}[2J\u{202e}.bin");
    std::fs::write(&model, b"weights").unwrap();
    let out = vramctl(&["seal", s(&model), "--audit-db", s(&dir.path().join("s.db"))]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert_no_terminal_control("seal", &text(&out));
}
