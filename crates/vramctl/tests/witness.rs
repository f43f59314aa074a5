//! `vramctl audit witness` end to end (spec `AC-WIT-002` to `AC-WIT-007`):
//! the real binary against a real tlog-witness server on 127.0.0.1
//! (`common::witness_server`), on real audit logs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use audit_core::tlog::{Note, SignerKey, VerifierKey, WitnessedTree};
use audit_core::{AuditEvent, AuditLog, AuditRecord, QueryFilter, Severity};
use common::witness_server::{Misbehaviour, Seen, TestWitness};
use common::{SECRET, code, text, vramctl};
use seal_crypto::WorkerSecret;
use serde_json::json;

const WORKER: &str = "worker-w";

fn secret() -> WorkerSecret {
    WorkerSecret::new(SECRET.as_bytes()).unwrap()
}

fn origin() -> String {
    audit_core::log_origin(WORKER).unwrap()
}

/// A log of `WORKER` and its log key in a key file.
struct Setup {
    _dir: tempfile::TempDir,
    db: PathBuf,
    key_file: PathBuf,
    log_key: SignerKey,
}

impl Setup {
    fn new(records: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("audit.db");
        let key_file = dir.path().join("log.key");
        let log_key = audit_core::generate_log_key(WORKER).unwrap();
        audit_core::save_log_key(&key_file, &log_key).unwrap();
        append(&db, records);
        Self {
            _dir: dir,
            db,
            key_file,
            log_key,
        }
    }

    fn vkey(&self) -> VerifierKey {
        self.log_key.verifier_key()
    }

    fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// `vramctl audit witness DB --key KEYFILE` with the witnesses and `extra`.
    fn run(&self, witnesses: &[&TestWitness], extra: &[&str]) -> Output {
        let mut args = vec![
            "audit".to_owned(),
            "witness".to_owned(),
            self.db.display().to_string(),
            "--worker-id".to_owned(),
            WORKER.to_owned(),
            "--key".to_owned(),
            self.key_file.display().to_string(),
        ];
        for w in witnesses {
            args.push("--witness".to_owned());
            args.push(w.arg());
        }
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        vramctl(&args)
    }

    fn log(&self) -> AuditLog {
        AuditLog::open_read(&self.db, WORKER, &secret()).unwrap()
    }

    fn tree(&self, size: u64) -> WitnessedTree {
        WitnessedTree {
            size,
            root: self.log().tree_root(size).unwrap(),
        }
    }

    fn latest_note(&self) -> String {
        self.log().latest_signed_checkpoint().unwrap().unwrap().note
    }

    fn alarms(&self) -> Vec<AuditRecord> {
        self.log()
            .query(&QueryFilter::default().kind("WitnessAlarm"))
            .unwrap()
    }
}

/// Appends `n` test events to the log at `db` (created if missing).
fn append(db: &Path, n: u64) {
    let mut log = AuditLog::open(db, WORKER, &secret()).unwrap();
    for i in 0..n {
        log.append(
            &AuditEvent::custom(
                "TestEvent",
                Severity::Low,
                Some("shard-0"),
                json!({ "i": i }),
            )
            .unwrap(),
        )
        .unwrap();
    }
}

/// A witness of this test's log, keyed by `log_key`.
fn witness(name: &str, seed: u8, log_key: &VerifierKey) -> TestWitness {
    TestWitness::start(name, seed, &[(origin().as_str(), log_key.clone())])
}

fn seen(old: u64, size: u64, status: u16) -> Seen {
    Seen {
        old: Some(old),
        size: Some(size),
        status,
    }
}

/// AC-WIT-003, AC-WIT-004: the first submission: with `--key`, a
/// checkpoint of the whole tree is signed, sent with `old 0`, cosigned;
/// the cosignature is stored on the checkpoint, and public verification
/// with the witness's key and a quorum of 1 passes.
#[test]
fn ac_wit_003_ac_wit_004_first_submission_is_cosigned_and_stored() {
    let s = Setup::new(5);
    let w = witness("witness.example/w1", 1, &s.vkey());
    let out = s.run(&[&w], &[]);
    let shown = text(&out);
    assert_eq!(code(&out), 0, "{shown}");
    assert!(shown.contains("cosigned: witness.example/w1"), "{shown}");
    assert!(shown.contains("1 of 1 witnesses cosigned"), "{shown}");
    assert!(shown.contains("quorum 1 met"), "{shown}");
    assert_eq!(w.seen(), vec![seen(0, 5, 200)]);
    assert_eq!(w.tree(&origin()), Some(s.tree(5)));

    let note = s.latest_note();
    let parsed = Note::parse(note.as_bytes()).unwrap();
    assert_eq!(parsed.signatures().len(), 2, "{note}");
    assert_eq!(parsed.signatures()[1].name(), "witness.example/w1");
    let report = audit_core::verify_public(&s.db, &s.vkey(), None, None, &[w.vkey()], 1).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.cosigned_by, vec!["witness.example/w1".to_owned()]);
    assert_eq!(report.checkpoint_size, Some(5));
    assert!(s.alarms().is_empty());
}

/// AC-WIT-003, AC-WIT-004: after more records, the next submission is a
/// new checkpoint sent from the size the witness cosigned last (read from
/// the stored cosignatures) with a consistency proof; the new checkpoint
/// verifies publicly against the first. Without new records and without
/// `--key`, the same checkpoint is sent again from its own size.
#[test]
fn ac_wit_003_ac_wit_004_second_submission_carries_a_consistency_proof() {
    let s = Setup::new(5);
    let w = witness("witness.example/w1", 1, &s.vkey());
    assert_eq!(code(&s.run(&[&w], &[])), 0);
    let first = s.latest_note();
    append(&s.db, 6);
    let out = s.run(&[&w], &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("cosigned 11 records (from 5)"),
        "{}",
        text(&out)
    );
    assert_eq!(w.seen(), vec![seen(0, 5, 200), seen(5, 11, 200)]);
    assert_eq!(w.tree(&origin()), Some(s.tree(11)));
    let report =
        audit_core::verify_public(&s.db, &s.vkey(), None, Some(&first), &[w.vkey()], 1).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.previous_size, Some(5));
    assert_eq!(report.checkpoint_size, Some(11));

    // Again, nothing new, no key: the stored checkpoint from its own size.
    let out = vramctl(&[
        "audit",
        "witness",
        s.db.to_str().unwrap(),
        "--worker-id",
        WORKER,
        "--witness",
        &w.arg(),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(w.seen()[2], seen(11, 11, 200));
    assert_eq!(s.log().signed_checkpoints().unwrap().len(), 2);

    // A record more, no key: the latest stored checkpoint, with a note.
    append(&s.db, 1);
    let out = vramctl(&[
        "audit",
        "witness",
        s.db.to_str().unwrap(),
        "--worker-id",
        WORKER,
        "--witness",
        &w.arg(),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("covers 11 of the 12 records; pass --key"),
        "{}",
        text(&out)
    );
    assert_eq!(w.seen()[3], seen(11, 11, 200));
}

/// AC-WIT-005: the witness already holds a larger, consistent tree the log
/// has no cosignature of (the client's old size 0 is stale): 409 naming
/// it, and the retry from there is cosigned.
#[test]
fn ac_wit_005_conflict_witness_ahead_then_retry() {
    let s = Setup::new(8);
    let w = witness("witness.example/w1", 1, &s.vkey());
    w.set_tree(&origin(), s.tree(5));
    let out = s.run(&[&w], &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(w.seen(), vec![seen(0, 8, 409), seen(5, 8, 200)]);
    assert!(
        text(&out).contains("cosigned 8 records (from 5)"),
        "{}",
        text(&out)
    );
    assert_eq!(w.tree(&origin()), Some(s.tree(8)));
    assert!(s.alarms().is_empty());
}

/// AC-WIT-005: the log's idea of the witness's size is stale (it cosigned
/// a later checkpoint whose answer the log never stored): 409 with that
/// size, then the retry from it succeeds.
#[test]
fn ac_wit_005_conflict_stale_old_size_then_retry() {
    let s = Setup::new(5);
    let w = witness("witness.example/w1", 1, &s.vkey());
    assert_eq!(code(&s.run(&[&w], &[])), 0);
    append(&s.db, 3);
    w.set_tree(&origin(), s.tree(8));
    append(&s.db, 2);
    let out = s.run(&[&w], &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(
        w.seen(),
        vec![seen(0, 5, 200), seen(5, 10, 409), seen(8, 10, 200)]
    );
    assert_eq!(w.tree(&origin()), Some(s.tree(10)));
}

/// AC-WIT-005, AC-WIT-006: an older copy of the log put back (a rollback):
/// the witness holds more records than the log has: an alarm, recorded in
/// the restored log, exit 1.
#[test]
fn ac_wit_005_ac_wit_006_rollback_is_an_alarm() {
    let s = Setup::new(5);
    let backup = s.dir().join("backup.db");
    {
        let conn = rusqlite::Connection::open(&s.db).unwrap();
        conn.execute("VACUUM INTO ?1", [backup.to_str().unwrap()])
            .unwrap();
    }
    append(&s.db, 5);
    let w = witness("witness.example/w1", 1, &s.vkey());
    assert_eq!(code(&s.run(&[&w], &[])), 0);
    std::fs::remove_file(&s.db).unwrap();
    let _ = std::fs::remove_file(s.db.with_extension("db-wal"));
    let _ = std::fs::remove_file(s.db.with_extension("db-shm"));
    std::fs::copy(&backup, &s.db).unwrap();

    let out = s.run(&[&w], &[]);
    let shown = text(&out);
    assert_eq!(code(&out), 1, "{shown}");
    assert!(shown.contains("ALARM: witness.example/w1"), "{shown}");
    assert!(shown.contains("holds 10 records"), "{shown}");
    assert_eq!(w.seen()[1], seen(0, 5, 409));
    assert_eq!(w.seen().len(), 2, "no retry after a rollback");
    let alarms = s.alarms();
    assert_eq!(alarms.len(), 1);
    assert_eq!(alarms[0].event["status"], 409);
    assert_eq!(w.tree(&origin()).unwrap().size, 10);
}

/// AC-WIT-006 (CVE-2023-31438, truncate and resume): the witness cosigned
/// 10 records; an attacker with the file cuts it back to 7 (records, tree
/// and checkpoints), keeps writing to 12 with valid MACs and signs a new
/// checkpoint with the log key. The witness refuses the proof from its 10
/// (422): a `WitnessAlarm` record in the log, exit 1, the witness named,
/// and the witness still holds its 10.
#[test]
fn ac_wit_006_journald_cve_2023_31438_truncate_and_resume_is_refused_by_a_witness() {
    let s = Setup::new(10);
    let w = witness("witness.example/w1", 1, &s.vkey());
    assert_eq!(code(&s.run(&[&w], &[])), 0);
    let held = w.tree(&origin()).unwrap();
    assert_eq!(held.size, 10);

    common::cut_tail(&common::attacker(&s.db), 7);
    append(&s.db, 5);
    assert_eq!(s.log().tree_size().unwrap(), 12);

    let out = s.run(&[&w], &[]);
    let shown = text(&out);
    assert_eq!(code(&out), 1, "{shown}");
    assert!(shown.contains("ALARM: witness.example/w1"), "{shown}");
    assert!(shown.contains("answered 422"), "{shown}");
    assert!(
        shown.contains("witness alarm: witness.example/w1 answered 422"),
        "{shown}"
    );
    assert_eq!(
        w.seen()[1..],
        [seen(0, 12, 409), seen(10, 12, 422)],
        "the retry from the witness's 10 is refused"
    );
    assert_eq!(w.tree(&origin()), Some(held));

    let alarms = s.alarms();
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    let alarm = &alarms[0];
    assert_eq!(alarm.severity, Severity::Critical);
    assert_eq!(alarm.seq, 13, "appended after the 12 records");
    assert_eq!(alarm.event["status"], 422);
    assert_eq!(alarm.event["old_size"], 10);
    assert_eq!(alarm.event["checkpoint_size"], 12);
    assert_eq!(alarm.event["witness"], w.vkey().to_string());
    assert_eq!(alarm.event["url"], w.url());
    // The log the attacker resumed never got a cosignature.
    let report = audit_core::verify_public(&s.db, &s.vkey(), None, None, &[w.vkey()], 1).unwrap();
    assert!(!report.is_ok());
}

/// AC-WIT-006: another log with the same origin and key (a fork: a second
/// file written with the same secret and signed with the same key) is
/// refused by the witness that saw the first: 422, an alarm.
#[test]
fn ac_wit_006_fork_with_the_same_origin_and_key_is_refused() {
    let s = Setup::new(10);
    let w = witness("witness.example/w1", 1, &s.vkey());
    assert_eq!(code(&s.run(&[&w], &[])), 0);

    let fork = s.dir().join("fork.db");
    append(&fork, 12);
    let out = vramctl(&[
        "audit",
        "witness",
        fork.to_str().unwrap(),
        "--worker-id",
        WORKER,
        "--key",
        s.key_file.to_str().unwrap(),
        "--witness",
        &w.arg(),
    ]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("answered 422"), "{}", text(&out));
    assert_eq!(w.seen()[1..], [seen(0, 12, 409), seen(10, 12, 422)]);
    let fork_log = AuditLog::open_read(&fork, WORKER, &secret()).unwrap();
    let alarms = fork_log
        .query(&QueryFilter::default().kind("WitnessAlarm"))
        .unwrap();
    assert_eq!(alarms.len(), 1);
}

/// AC-WIT-006: a witness that does not know the log's origin: 404, an
/// alarm naming it and the status.
#[test]
fn ac_wit_006_unknown_origin_is_an_alarm() {
    let s = Setup::new(3);
    let other = audit_core::generate_log_key("another-worker").unwrap();
    let w = TestWitness::start(
        "witness.example/w2",
        2,
        &[(
            audit_core::log_origin("another-worker").unwrap().as_str(),
            other.verifier_key(),
        )],
    );
    let out = s.run(&[&w], &[]);
    let shown = text(&out);
    assert_eq!(code(&out), 1, "{shown}");
    assert!(
        shown.contains("witness alarm: witness.example/w2 answered 404"),
        "{shown}"
    );
    assert!(shown.contains("does not know this log's origin"), "{shown}");
    let alarms = s.alarms();
    assert_eq!(alarms.len(), 1);
    assert_eq!(alarms[0].event["status"], 404);
    assert_eq!(alarms[0].event["old_size"], 0);
}

/// AC-WIT-006: the witness holds another key for the log's origin: 403,
/// an alarm; nothing is stored on the checkpoint.
#[test]
fn ac_wit_006_wrong_log_key_at_the_witness_is_an_alarm() {
    let s = Setup::new(3);
    let wrong = audit_core::generate_log_key(WORKER).unwrap();
    let w = witness("witness.example/w3", 3, &wrong.verifier_key());
    let out = s.run(&[&w], &[]);
    let shown = text(&out);
    assert_eq!(code(&out), 1, "{shown}");
    assert!(
        shown.contains("witness alarm: witness.example/w3 answered 403"),
        "{shown}"
    );
    assert_eq!(s.alarms().len(), 1);
    assert_eq!(s.alarms()[0].event["status"], 403);
    let note = Note::parse(s.latest_note().as_bytes()).unwrap();
    assert_eq!(note.signatures().len(), 1, "no cosignature stored");
}

/// AC-WIT-006: a 200 whose line carries the witness's name and key ID but
/// does not verify: an alarm; nothing stored.
#[test]
fn ac_wit_006_a_cosignature_that_does_not_verify_is_an_alarm() {
    let s = Setup::new(3);
    let w = witness("witness.example/w1", 1, &s.vkey());
    w.misbehave(Misbehaviour::ForgedCosignature);
    let out = s.run(&[&w], &[]);
    let shown = text(&out);
    assert_eq!(code(&out), 1, "{shown}");
    assert!(shown.contains("does not verify"), "{shown}");
    assert_eq!(s.alarms().len(), 1);
    assert_eq!(s.alarms()[0].event["status"], 200);
    let note = Note::parse(s.latest_note().as_bytes()).unwrap();
    assert_eq!(note.signatures().len(), 1, "no cosignature stored");
}

/// AC-WIT-007: a witness that cannot be reached, one that times out and one
/// that answers 500 or 400 did not cosign: reported, no alarm record; exit
/// 1 while the quorum (default: all) is not met, 0 once it is.
#[test]
fn ac_wit_007_failures_are_not_alarms_and_the_quorum_decides() {
    let s = Setup::new(4);
    let good = witness("witness.example/good", 1, &s.vkey());
    let refused_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // Accepts connections (the kernel's backlog) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!(
        "http://127.0.0.1:{refused_port}={}",
        SignerKey::from_seed(
            "witness.example/down",
            audit_core::tlog::SignatureType::Cosignature,
            &[7; 32]
        )
        .unwrap()
        .verifier_key()
    );
    let hung = format!(
        "http://{}={}",
        silent.local_addr().unwrap(),
        SignerKey::from_seed(
            "witness.example/hung",
            audit_core::tlog::SignatureType::Cosignature,
            &[8; 32]
        )
        .unwrap()
        .verifier_key()
    );
    let broken = witness("witness.example/broken", 9, &s.vkey());
    broken.misbehave(Misbehaviour::Status(500));
    let picky = witness("witness.example/picky", 10, &s.vkey());
    picky.misbehave(Misbehaviour::Status(400));

    let extra = [
        "--witness",
        &down,
        "--witness",
        &hung,
        "--timeout-ms",
        "500",
    ];
    let started = Instant::now();
    let out = s.run(&[&good, &broken, &picky], &extra);
    let shown = text(&out);
    assert!(started.elapsed() < Duration::from_secs(30), "timeouts hold");
    assert_eq!(code(&out), 1, "{shown}");
    assert!(shown.contains("1 of 5 witnesses cosigned"), "{shown}");
    assert!(shown.contains("quorum 5 NOT met"), "{shown}");
    assert!(shown.contains("0 alarm(s), 4 failed"), "{shown}");
    for name in ["down", "hung", "broken", "picky"] {
        assert!(
            shown.contains(&format!("failed: witness.example/{name}")),
            "{name}: {shown}"
        );
    }
    assert!(shown.contains("unexpected status 500"), "{shown}");
    assert!(shown.contains("400 Bad Request"), "{shown}");
    assert!(shown.contains("no answer within 500 ms"), "{shown}");
    assert!(s.alarms().is_empty());
    // The one cosignature is stored all the same.
    assert_eq!(
        Note::parse(s.latest_note().as_bytes())
            .unwrap()
            .signatures()
            .len(),
        2
    );

    let out = s.run(&[&good, &broken], &["--witness", &down, "--quorum", "1"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("quorum 1 met; 0 alarm(s), 2 failed"),
        "{}",
        text(&out)
    );
    drop(silent);
}

/// AC-WIT-002: bad input is exit 2 and touches nothing: no `--witness`, a
/// witness that is not URL=VKEY, an https URL, a private key, a witness
/// twice, a quorum of 0 or above the witnesses, a timeout of 0, a missing
/// database (not created), a log with no signed checkpoint and no `--key`,
/// a witness with the log's own key.
#[test]
fn ac_wit_002_usage_errors() {
    let s = Setup::new(2);
    let w = witness("witness.example/w1", 1, &s.vkey());
    let db = s.db.to_str().unwrap();
    let vkey = w.vkey().to_string();
    let cases: Vec<Vec<String>> = vec![
        vec![],
        vec!["--witness".into(), vkey.clone()],
        vec!["--witness".into(), format!("https://w.example={vkey}")],
        vec!["--witness".into(), format!("{}=not-a-key", w.url())],
        vec![
            "--witness".into(),
            format!("{}={}", w.url(), s.log_key.to_skey().as_str()),
        ],
        vec![
            "--witness".into(),
            format!("https://w.example={}", s.log_key.to_skey().as_str()),
        ],
        vec!["--witness".into(), s.log_key.to_skey().to_string()],
        vec!["--witness".into(), w.arg(), "--witness".into(), w.arg()],
        vec!["--witness".into(), w.arg(), "--quorum".into(), "0".into()],
        vec!["--witness".into(), w.arg(), "--quorum".into(), "2".into()],
        vec![
            "--witness".into(),
            w.arg(),
            "--timeout-ms".into(),
            "0".into(),
        ],
        vec![
            "--witness".into(),
            format!("{}={}", w.url(), s.log_key.verifier_key()),
            "--key".into(),
            s.key_file.display().to_string(),
        ],
    ];
    for extra in cases {
        let mut args = vec!["audit", "witness", db, "--worker-id", WORKER];
        args.extend(extra.iter().map(String::as_str));
        let out = vramctl(&args);
        assert_eq!(code(&out), 2, "{extra:?}: {}", text(&out));
        assert!(
            !text(&out).contains(s.log_key.to_skey().as_str()),
            "the private key is never echoed"
        );
    }
    let help = vramctl(&["audit", "witness", "--help"]);
    assert_eq!(code(&help), 0);
    assert!(text(&help).contains("URL=VKEY"), "{}", text(&help));

    // A key for another worker's log: nothing signed, no witness asked.
    let other_key = s.dir().join("other.key");
    audit_core::save_log_key(&other_key, &audit_core::generate_log_key("other").unwrap()).unwrap();
    let out = vramctl(&[
        "audit",
        "witness",
        db,
        "--worker-id",
        WORKER,
        "--witness",
        &w.arg(),
        "--key",
        other_key.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    // No checkpoint yet and no key.
    let out = vramctl(&[
        "audit",
        "witness",
        db,
        "--worker-id",
        WORKER,
        "--witness",
        &w.arg(),
    ]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("--key"), "{}", text(&out));
    // A database that is not there is not created.
    let missing = s.dir().join("missing.db");
    let out = vramctl(&[
        "audit",
        "witness",
        missing.to_str().unwrap(),
        "--witness",
        &w.arg(),
    ]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(!missing.exists());
    assert!(w.seen().is_empty(), "no witness was asked");
    assert!(s.log().signed_checkpoints().unwrap().is_empty());
}
