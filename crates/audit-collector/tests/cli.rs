//! `vram-auditd` end to end: the real binary on a real PostgreSQL, its
//! HTTP on 127.0.0.1, worker logs submitting with the real witness client.
//! Without `DATABASE_URL` the tests that need a server say they did not
//! run; under `cargo xtask pg` / `ci` they fail instead.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};

use audit_core::tlog::{SignatureType, SignerKey, VerifierKey};
use audit_ship::witness::Outcome;
use common::*;

/// A `vram-auditd serve` process; killed when dropped.
struct Served {
    child: Child,
    url: String,
    vkey: VerifierKey,
}

impl Served {
    /// Starts `vram-auditd --database-url URL --witness-key KEY serve
    /// --listen 127.0.0.1:0`, its stderr to `log`, and reads its address
    /// and key from its first lines.
    fn start(url: &str, key: &Path, log: &Path) -> Self {
        let mut child = auditd()
            .args(["--database-url", url, "--witness-key"])
            .arg(key)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let second = lines.next().unwrap().unwrap();
        let url = first.strip_prefix("listening on ").unwrap().to_owned();
        let vkey = VerifierKey::parse(second.strip_prefix("witness key: ").unwrap()).unwrap();
        Self { child, url, vkey }
    }

    fn witness(&self) -> audit_ship::witness::Witness {
        audit_ship::witness::Witness::new(&self.url, &self.vkey).unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn submit(log: &WorkerLog, served: &Served) -> Outcome {
    let note = log.sign();
    let mut audit = log.open();
    let size = audit.tree_size().unwrap();
    audit_ship::witness::submit(
        &mut audit,
        &served.witness(),
        &note,
        size,
        std::time::Duration::from_secs(30),
    )
    .unwrap()
}

fn keygen(dir: &Path, name: &str) -> std::path::PathBuf {
    let path = dir.join("witness.key");
    let out = auditd()
        .args(["keygen", "--out"])
        .arg(&path)
        .args(["--name", name])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    path
}

/// COL-KEY-001: `keygen` writes a new key file of mode 0600 in the log
/// key format and prints its verifier key (a cosigner key of that name);
/// it never writes over a file; `serve` refuses a key file others can
/// read. No database needed.
#[test]
fn col_key_001_keygen_and_the_key_file_rules() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("witness.key");
    let out = auditd()
        .args(["keygen", "--out"])
        .arg(&path)
        .args(["--name", "collector.test/w1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let key = audit_core::load_log_key(&path).unwrap();
    assert_eq!(key.name(), "collector.test/w1");
    let shown = String::from_utf8(out.stdout).unwrap();
    let vkey = shown
        .lines()
        .find_map(|l| l.strip_prefix("verifier key: "))
        .unwrap();
    let vkey = VerifierKey::parse(vkey).unwrap();
    assert_eq!(vkey.kind(), SignatureType::Cosignature);
    assert_eq!(vkey, key.to_cosigner().verifier_key());
    let skey = key.to_skey();
    assert!(!shown.contains(skey.as_str()));

    let again = auditd()
        .args(["keygen", "--out"])
        .arg(&path)
        .args(["--name", "other"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again).contains("never overwritten"),
        "{}",
        text(&again)
    );
    assert_eq!(
        audit_core::load_log_key(&path).unwrap().name(),
        "collector.test/w1"
    );

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = auditd()
        .args([
            "--database-url",
            "postgres://nobody@127.0.0.1:1/none",
            "--witness-key",
        ])
        .arg(&path)
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("chmod 600"), "{}", text(&out));
    assert!(!text(&out).contains(skey.as_str()));
}

/// COL-REG-001: `worker add ORIGIN VKEY` and `worker list [--json]` from
/// the command line; a duplicate, a private key (not shown) and a key of
/// another type are refused with exit 2 and a message saying what to do.
#[test]
fn col_reg_001_worker_add_and_list_from_the_command_line() {
    let Some(db) = test_database("col_reg_001_cli") else {
        return;
    };
    let log = WorkerLog::new(WORKER, 0);
    let vkey = log.vkey().to_string();
    let out = auditd_on(db.url(), &["worker", "add", &log.origin(), &vkey]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("registered worker vram-residency/audit/worker-c"),
        "{}",
        text(&out)
    );

    let out = auditd_on(db.url(), &["worker", "add", &log.origin(), &vkey]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("already registered"), "{}", text(&out));

    let skey = log.key.to_skey().to_string();
    let out = auditd_on(
        db.url(),
        &["worker", "add", "vram-residency/audit/x", &skey],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("private key (not shown)"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains(skey.splitn(5, '+').nth(4).unwrap()));

    let cosigner = SignerKey::from_seed("w", SignatureType::Cosignature, &[9; 32])
        .unwrap()
        .verifier_key()
        .to_string();
    let out = auditd_on(
        db.url(),
        &["worker", "add", "vram-residency/audit/x", &cosigner],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("Ed25519 (0x01)"), "{}", text(&out));

    let out = auditd_on(db.url(), &["worker", "list"]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8(out.stdout).unwrap();
    assert_eq!(shown.lines().count(), 1, "{shown}");
    assert!(
        shown.contains(&log.origin()) && shown.contains(&vkey),
        "{shown}"
    );
    assert!(shown.contains("nothing cosigned yet"), "{shown}");
    assert!(shown.contains("0 records held"), "{shown}");

    let out = auditd_on(db.url(), &["worker", "list", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["origin"], log.origin().as_str());
    assert_eq!(listed[0]["vkey"], vkey.as_str());
    assert!(listed[0]["witnessed_size"].is_null());
    assert_eq!(listed[0]["records_held"], 0);

    // Without a database URL: a message that says how to give one.
    let out = auditd().args(["worker", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("DATABASE_URL"), "{}", text(&out));
}

/// COL-WIT-005, COL-ALERT-001: the witness's state is the database's: a
/// collector killed and started again (a new process on the same
/// database) holds the tree it cosigned, cosigns the next checkpoint from
/// there and refuses a fork; alerts are raised at error level on stderr
/// and listed by `vram-auditd alerts [--json]`.
#[test]
fn col_wit_005_col_alert_001_state_survives_a_restart() {
    let Some(db) = test_database("col_wit_005") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "collector.test/w1");
    let log = WorkerLog::new(WORKER, 5);
    let out = auditd_on(
        db.url(),
        &["worker", "add", &log.origin(), &log.vkey().to_string()],
    );
    assert!(out.status.success(), "{}", text(&out));

    let first = Served::start(db.url(), &key, &dir.path().join("first.log"));
    let outcome = submit(&log, &first);
    assert!(
        matches!(outcome, Outcome::Cosigned { old: 0, .. }),
        "{outcome:?}"
    );
    let vkey = first.vkey.clone();
    drop(first); // killed, no shutdown

    let second = Served::start(db.url(), &key, &dir.path().join("second.log"));
    assert_eq!(second.vkey, vkey);
    // The log's stored cosignature says 5; the collector agrees.
    log.append(2, "a");
    let outcome = submit(&log, &second);
    assert!(
        matches!(outcome, Outcome::Cosigned { old: 5, .. }),
        "{outcome:?}"
    );
    // Raw: the restarted collector holds 7.
    let (status, body) = post(&second.url, &log.request(0, &log.sign()));
    assert_eq!((status, body.as_str()), (409, "7\n"));

    let fork = WorkerLog::with_key(WORKER, 9, log.key.clone());
    let outcome = submit(&fork, &second);
    assert!(
        matches!(
            outcome,
            Outcome::Alarm {
                status: 422,
                old: 7,
                ..
            }
        ),
        "{outcome:?}"
    );
    let stranger = WorkerLog::new("worker-stranger", 1);
    assert!(matches!(
        submit(&stranger, &second),
        Outcome::Alarm { status: 404, .. }
    ));
    drop(second);

    let stderr = std::fs::read_to_string(dir.path().join("second.log")).unwrap();
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 2, "{stderr}");
    assert!(
        errors[0].contains("ALERT") && errors[0].contains("inconsistent"),
        "{stderr}"
    );
    assert!(errors[1].contains("unknown_origin"), "{stderr}");

    let out = auditd_on(db.url(), &["alerts"]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 2, "{shown}");
    assert!(
        lines[0]
            .contains("ALERT inconsistent (422) vram-residency/audit/worker-c old 7 size 9 held 7"),
        "{shown}"
    );
    assert!(
        lines[1].contains("ALERT unknown_origin (404) vram-residency/audit/worker-stranger"),
        "{shown}"
    );
    let out = auditd_on(db.url(), &["alerts", "--json", "--origin", &log.origin()]);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["kind"], "inconsistent");

    let out = auditd_on(db.url(), &["worker", "list", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["witnessed_size"], 7);
}

/// COL-DB-001: the binary applies the schema itself (`migrate` says what
/// it did) and refuses a database a newer collector migrated.
#[test]
fn col_db_001_the_binary_migrates_and_refuses_a_newer_schema() {
    let Some(db) = test_database("col_db_001_cli") else {
        return;
    };
    let out = auditd_on(db.url(), &["migrate"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("schema migrated from version 0 to 5 (applied [1, 2, 3, 4, 5])"),
        "{}",
        text(&out)
    );
    let out = auditd_on(db.url(), &["migrate"]);
    assert!(
        text(&out).contains("schema at version 5: up to date"),
        "{}",
        text(&out)
    );
    pg_server::psql(
        db.url(),
        "INSERT INTO schema_migrations (version, name) VALUES (6, 'newer')",
    )
    .unwrap();
    let out = auditd_on(db.url(), &["worker", "list"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("schema version 6, newer than the 5"),
        "{}",
        text(&out)
    );
}

/// COL-AUD-007: `vram-auditd serve --read-only` needs no witness key,
/// writes nothing (it refuses a database it would have to migrate) and
/// serves the reads.
#[test]
fn col_aud_007_serve_read_only_from_the_command_line() {
    let Some(db) = test_database("col_aud_007_cli") else {
        return;
    };
    let read_only = || {
        let mut command = auditd();
        command.args(["--database-url", db.url()]).args([
            "serve",
            "--read-only",
            "--listen",
            "127.0.0.1:0",
        ]);
        command
    };
    let out = read_only().output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("schema version 0") && text(&out).contains("migrate the primary"),
        "{}",
        text(&out)
    );
    let out = auditd_on(db.url(), &["migrate"]);
    assert!(out.status.success(), "{}", text(&out));

    let mut child = read_only()
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let first = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let url = first
        .strip_prefix("listening on ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap()
        .to_owned();
    assert!(first.contains("read only"), "{first}");
    let alerts = ureq_get(&format!("{url}/alerts"));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(alerts, "[]");
}
