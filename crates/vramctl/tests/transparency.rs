//! The transparency-log commands end to end, on the real binary
//! (`AC-100` to `AC-109`): `audit keygen`, `audit checkpoint --key`,
//! `audit verify --public`, `audit prove inclusion|consistency` and
//! `audit check-proof`. The public commands run with no secret in their
//! environment.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use audit_core::tlog::{self, SignatureType, SignerKey, VerifierKey};
use audit_core::{AuditEvent, AuditLog, AuditRecord, PublicLog};
use common::{
    SECRET, code, stdout, text, vramctl as with_secret, vramctl_without_secret as public,
};
use seal_crypto::WorkerSecret;

const WORKER: &str = "gpu-node-7";
const ORIGIN: &str = "vram-residency/audit/gpu-node-7";

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn secret() -> WorkerSecret {
    WorkerSecret::new(SECRET.as_bytes()).unwrap()
}

/// Appends `n` events to the log of `WORKER` at `db` (creating it).
fn append(db: &Path, n: usize) {
    let mut log = AuditLog::open(db, WORKER, &secret()).unwrap();
    for i in 0..n {
        log.append(&AuditEvent::seal_verified(&format!("llama:{i}"), 0))
            .unwrap();
    }
}

/// `audit keygen` for `WORKER`: the key file and the printed vkey.
fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    let out = public(&["audit", "keygen", "--out", s(&key), "--worker", WORKER]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let vkey = stdout(&out).trim_end().to_owned();
    (key, vkey)
}

/// `audit checkpoint --key`: the signed note, also kept in `note_file`.
fn checkpoint(db: &Path, key: &Path, note_file: &Path) -> String {
    let out = with_secret(&[
        "audit",
        "checkpoint",
        s(db),
        "--worker-id",
        WORKER,
        "--key",
        s(key),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let note = stdout(&out);
    std::fs::write(note_file, &note).unwrap();
    note
}

/// A log of `records` records with a signed checkpoint of all of them.
struct Fixture {
    dir: tempfile::TempDir,
    db: PathBuf,
    key: PathBuf,
    vkey: String,
    note: PathBuf,
}

fn fixture(records: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    append(&db, records);
    let (key, vkey) = keygen(dir.path(), "log.key");
    let note = dir.path().join(format!("checkpoint-{records}.note"));
    checkpoint(&db, &key, &note);
    Fixture {
        dir,
        db,
        key,
        vkey,
        note,
    }
}

fn verify_public(f: &Fixture, extra: &[&str]) -> Output {
    let mut args = vec!["audit", "verify", s(&f.db), "--public", "--vkey", &f.vkey];
    args.extend_from_slice(extra);
    public(&args)
}

/// The private part of a key file: what no output may ever show.
fn private_part(key: &Path) -> String {
    let skey = std::fs::read_to_string(key).unwrap();
    // After PRIVATE+KEY+name+hash: base64, which may hold a '+' itself.
    skey.trim_end().splitn(5, '+').nth(4).unwrap().to_owned()
}

#[test]
fn ac_100_keygen_writes_a_private_key_file_prints_its_vkey_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let (key, vkey) = keygen(dir.path(), "log.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The vkey printed is the public half of the key written, named after
    // the worker's origin.
    let parsed: VerifierKey = vkey.parse().unwrap();
    assert_eq!(parsed.name(), ORIGIN);
    assert_eq!(parsed.kind(), SignatureType::Ed25519);
    let loaded = audit_core::load_log_key(&key).unwrap();
    assert_eq!(loaded.verifier_key().to_string(), vkey);
    // An existing file is never overwritten: exit 2, said clearly, and the
    // file is as it was.
    let before = std::fs::read(&key).unwrap();
    let again = public(&["audit", "keygen", "--out", s(&key), "--worker", WORKER]);
    assert_eq!(code(&again), 2, "{}", text(&again));
    assert!(text(&again).contains("already exists"), "{}", text(&again));
    assert!(stdout(&again).is_empty());
    assert_eq!(std::fs::read(&key).unwrap(), before);
    // Drawn at random, not derived from anything: a second key differs.
    let (_, other) = keygen(dir.path(), "other.key");
    assert_ne!(other, vkey);
    // Nothing printed holds the private key.
    assert!(!text(&again).contains(&private_part(&key)));
    // A worker id that cannot name a log is bad input.
    let bad = public(&[
        "audit",
        "keygen",
        "--out",
        s(&dir.path().join("bad.key")),
        "--worker",
        "",
    ]);
    assert_eq!(code(&bad), 2, "{}", text(&bad));
    assert!(!dir.path().join("bad.key").exists());
}

#[test]
fn ac_101_checkpoint_with_key_signs_stores_and_prints_the_note() {
    let f = fixture(5);
    let note = std::fs::read_to_string(&f.note).unwrap();
    // A C2SP checkpoint of the 5 records, signed by the log key.
    let vkey: VerifierKey = f.vkey.parse().unwrap();
    let signed = tlog::open_checkpoint(note.as_bytes(), ORIGIN, &vkey, &[]).unwrap();
    assert_eq!(signed.checkpoint().size(), 5);
    assert!(note.starts_with(&format!("{ORIGIN}\n5\n")), "{note}");
    // Stored in the log.
    let stored = PublicLog::open(&f.db)
        .unwrap()
        .signed_checkpoints()
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].note, note);
    // --out writes the note instead.
    append(&f.db, 2);
    let out_file = f.dir.path().join("out.note");
    let out = with_secret(&[
        "audit",
        "checkpoint",
        s(&f.db),
        "--worker-id",
        WORKER,
        "--key",
        s(&f.key),
        "--out",
        s(&out_file),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let written = std::fs::read_to_string(&out_file).unwrap();
    assert!(written.starts_with(&format!("{ORIGIN}\n7\n")), "{written}");
    // Without --key, the JSON checkpoint as before.
    let json = with_secret(&["audit", "checkpoint", s(&f.db), "--worker-id", WORKER]);
    assert_eq!(code(&json), 0, "{}", text(&json));
    let value: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(value["last_seq"], 7);
    // A key for another worker's log is refused, nothing is signed.
    let dir = f.dir.path();
    let foreign = dir.join("foreign.key");
    let out = public(&["audit", "keygen", "--out", s(&foreign), "--worker", "other"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let refused = with_secret(&[
        "audit",
        "checkpoint",
        s(&f.db),
        "--worker-id",
        WORKER,
        "--key",
        s(&foreign),
    ]);
    assert_eq!(code(&refused), 2, "{}", text(&refused));
    assert!(
        text(&refused).contains("named for another log"),
        "{}",
        text(&refused)
    );
    assert_eq!(
        PublicLog::open(&f.db)
            .unwrap()
            .signed_checkpoints()
            .unwrap()
            .len(),
        2
    );
    // A missing database is not created.
    let missing = dir.join("missing.db");
    let out = with_secret(&["audit", "checkpoint", s(&missing), "--key", s(&f.key)]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(!missing.exists());
}

#[test]
fn ac_101_checkpoint_with_key_refuses_a_log_that_does_not_verify() {
    let f = fixture(3);
    append(&f.db, 3);
    let conn = rusqlite::Connection::open(&f.db).unwrap();
    conn.execute_batch("DROP TRIGGER records_no_update;")
        .unwrap();
    conn.execute(
        "UPDATE records SET event = replace(event, 'llama', 'evil') WHERE seq = 5",
        [],
    )
    .unwrap();
    drop(conn);
    let out = with_secret(&[
        "audit",
        "checkpoint",
        s(&f.db),
        "--worker-id",
        WORKER,
        "--key",
        s(&f.key),
    ]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(stdout(&out).is_empty(), "nothing signed: {}", text(&out));
    assert_eq!(
        PublicLog::open(&f.db)
            .unwrap()
            .signed_checkpoints()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn ac_102_ac_103_ac_108_verify_public_passes_with_the_vkey_alone() {
    let f = fixture(6);
    let before = std::fs::read(&f.db).unwrap();
    let out = verify_public(&f, &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let shown = stdout(&out);
    assert!(shown.starts_with("OK:"), "{shown}");
    assert!(
        shown.contains(WORKER) && shown.contains("6 leaves"),
        "{shown}"
    );
    // JSON: the library's report.
    let json = verify_public(&f, &["--json"]);
    assert_eq!(code(&json), 0, "{}", text(&json));
    let report: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(report["failure"], serde_json::Value::Null);
    assert_eq!(report["tree_size"], 6);
    assert_eq!(report["checkpoint_source"], "stored");
    assert_eq!(report["origin"], ORIGIN);
    // A checkpoint given as a file works the same.
    let given = verify_public(&f, &["--checkpoint", s(&f.note)]);
    assert_eq!(code(&given), 0, "{}", text(&given));
    assert!(stdout(&given).contains("checkpoint (given)"));
    // Nothing was written.
    assert_eq!(std::fs::read(&f.db).unwrap(), before);
}

#[test]
fn ac_102_verify_public_refuses_bad_input_with_exit_2() {
    let f = fixture(2);
    let dir = f.dir.path();
    let garbage = dir.join("garbage.note");
    std::fs::write(&garbage, "not a note\n").unwrap();
    let big = dir.join("big.note");
    std::fs::write(&big, vec![b'a'; audit_core::MAX_CHECKPOINT_NOTE_BYTES + 1]).unwrap();
    let skey = std::fs::read_to_string(&f.key).unwrap();
    let skey = skey.trim_end();
    let db = s(&f.db);
    // A cosigner (0x04) vkey given as the log's: refused by name and id.
    let cosigner =
        SignerKey::from_seed("witness.example", SignatureType::Cosignature, &[9; 32]).unwrap();
    let cosigner = cosigner.verifier_key();
    let cosigner_vkey = cosigner.to_string();
    let cosigner_named = format!("--vkey {}+{} is a", cosigner.name(), cosigner.key_id());
    let cosigner_bytes = cosigner_vkey
        .strip_prefix(&format!("{}+{}+", cosigner.name(), cosigner.key_id()))
        .unwrap();
    let out = public(&["audit", "verify", db, "--public", "--vkey", &cosigner_vkey]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains(&cosigner_named), "{}", text(&out));
    assert!(!text(&out).contains(cosigner_bytes), "{}", text(&out));
    for (args, needle) in [
        (vec!["audit", "verify", db, "--public"], "--vkey"),
        (
            vec!["audit", "verify", db, "--public", "--vkey", "nonsense"],
            "--vkey",
        ),
        (
            vec!["audit", "verify", db, "--public", "--vkey", skey],
            "private signer key",
        ),
        (
            vec![
                "audit",
                "verify",
                db,
                "--public",
                "--vkey",
                &f.vkey,
                "--checkpoint",
                s(&garbage),
            ],
            "not a signed note",
        ),
        (
            vec![
                "audit",
                "verify",
                db,
                "--public",
                "--vkey",
                &f.vkey,
                "--previous",
                s(&big),
            ],
            "more than 65536 bytes",
        ),
        (
            vec![
                "audit",
                "verify",
                db,
                "--public",
                "--vkey",
                &f.vkey,
                "--checkpoint",
                "/dev/zero",
            ],
            "more than 65536 bytes",
        ),
        (
            vec![
                "audit", "verify", db, "--public", "--vkey", &f.vkey, "--quorum", "1",
            ],
            "--witness",
        ),
        (
            vec![
                "audit",
                "verify",
                db,
                "--public",
                "--vkey",
                &f.vkey,
                "--secret-file",
                s(&f.key),
            ],
            "cannot be used with",
        ),
        (
            vec![
                "audit", "verify", db, "--public", "--vkey", &f.vkey, "--from", "1",
            ],
            "cannot be used with",
        ),
        (vec!["audit", "verify", db, "--vkey", &f.vkey], "--public"),
        (
            vec![
                "audit",
                "verify",
                s(&dir.join("missing.db")),
                "--public",
                "--vkey",
                &f.vkey,
            ],
            "cannot read",
        ),
    ] {
        let out = public(&args);
        assert_eq!(code(&out), 2, "{args:?}: {}", text(&out));
        assert!(text(&out).contains(needle), "{args:?}: {}", text(&out));
        // AC-109: the private key never shows, even when it was given.
        assert!(!text(&out).contains(&private_part(&f.key)), "{args:?}");
    }
}

#[test]
fn ac_103_verify_public_with_a_wrong_vkey_fails() {
    let f = fixture(4);
    let (_, other) = keygen(f.dir.path(), "other.key");
    let out = public(&["audit", "verify", s(&f.db), "--public", "--vkey", &other]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(stdout(&out).starts_with("FAILED:"), "{}", text(&out));
    assert!(
        stdout(&out).contains("checkpoint rejected"),
        "{}",
        text(&out)
    );
}

#[test]
fn ac_103_a_tampered_record_fails_public_verification() {
    let f = fixture(5);
    let conn = rusqlite::Connection::open(&f.db).unwrap();
    conn.execute_batch("DROP TRIGGER records_no_update;")
        .unwrap();
    conn.execute(
        "UPDATE records SET event = replace(event, 'llama', 'evil!') WHERE seq = 3",
        [],
    )
    .unwrap();
    drop(conn);
    let out = verify_public(&f, &[]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        stdout(&out).contains("record 3 is not the one logged"),
        "{}",
        text(&out)
    );
    let json = verify_public(&f, &["--json"]);
    assert_eq!(code(&json), 1, "{}", text(&json));
    let report: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(report["failure"]["reason"], "leaf_mismatch");
    assert_eq!(report["failure"]["seq"], 3);
}

#[test]
fn ac_103_a_previous_checkpoint_larger_than_the_current_one_is_a_rollback() {
    let f = fixture(3);
    let old_copy = f.dir.path().join("old.db");
    std::fs::copy(&f.db, &old_copy).unwrap();
    append(&f.db, 4);
    let newer = f.dir.path().join("checkpoint-7.note");
    checkpoint(&f.db, &f.key, &newer);
    // Forward: the log extends the older checkpoint.
    let ok = verify_public(&f, &["--checkpoint", s(&newer), "--previous", s(&f.note)]);
    assert_eq!(code(&ok), 0, "{}", text(&ok));
    assert!(stdout(&ok).contains("previous checkpoint: 3 records"));
    // Backward: the checkpoint shown is older than one seen before.
    let back = verify_public(&f, &["--checkpoint", s(&f.note), "--previous", s(&newer)]);
    assert_eq!(code(&back), 1, "{}", text(&back));
    assert!(stdout(&back).contains("rolled back"), "{}", text(&back));
    // An older copy of the file put back, against the newer checkpoint.
    let out = public(&[
        "audit",
        "verify",
        s(&old_copy),
        "--public",
        "--vkey",
        &f.vkey,
        "--checkpoint",
        s(&newer),
    ]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(stdout(&out).contains("older copy"), "{}", text(&out));
}

/// A witness's cosigner key, and the cosignature line it gives the
/// checkpoint of an add-checkpoint body it checked.
fn witness_cosigns(witness: &SignerKey, body: &str) -> String {
    let request = tlog::AddCheckpointRequest::parse(body.as_bytes()).unwrap();
    request.check_consistency(&tlog::EMPTY_ROOT).unwrap();
    let mut note = tlog::Note::new(request.checkpoint().text()).unwrap();
    note.cosign(witness, 1_700_000_000).unwrap();
    format!("{}\n", note.signatures()[0])
}

#[test]
fn ac_102_ac_103_ac_106_witness_quorum_on_verify_and_check_proof() {
    let f = fixture(4);
    let witness =
        SignerKey::from_seed("witness.example", SignatureType::Cosignature, &[9; 32]).unwrap();
    let wvkey = witness.verifier_key().to_string();
    // Not cosigned: the quorum is not met.
    let out = verify_public(&f, &["--witness", &wvkey]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        stdout(&out).contains("witness cosignatures required"),
        "{}",
        text(&out)
    );
    // The witness is sent `prove consistency --from 0` (an add-checkpoint
    // body) and answers with its cosignature.
    let body = public(&["audit", "prove", "consistency", s(&f.db), "--from", "0"]);
    assert_eq!(code(&body), 0, "{}", text(&body));
    let line = witness_cosigns(&witness, &stdout(&body));
    let cosigned = f.dir.path().join("cosigned.note");
    let mut note = std::fs::read_to_string(&f.note).unwrap();
    note.push_str(&line);
    std::fs::write(&cosigned, &note).unwrap();
    let out = verify_public(
        &f,
        &[
            "--checkpoint",
            s(&cosigned),
            "--witness",
            &wvkey,
            "--quorum",
            "1",
        ],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        stdout(&out).contains("cosigned by: witness.example"),
        "{}",
        text(&out)
    );
    // check-proof holds the proof's checkpoint to the same policy.
    let proof = public(&["audit", "prove", "inclusion", s(&f.db), "2"]);
    assert_eq!(code(&proof), 0, "{}", text(&proof));
    let proof_file = f.dir.path().join("proof");
    std::fs::write(&proof_file, stdout(&proof)).unwrap();
    let out = public(&[
        "audit",
        "check-proof",
        s(&proof_file),
        "--vkey",
        &f.vkey,
        "--witness",
        &wvkey,
    ]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    // Replace the checkpoint in the proof by the cosigned one.
    let cosigned_proof = stdout(&proof).replace(&std::fs::read_to_string(&f.note).unwrap(), &note);
    std::fs::write(&proof_file, cosigned_proof).unwrap();
    let out = public(&[
        "audit",
        "check-proof",
        s(&proof_file),
        "--vkey",
        &f.vkey,
        "--witness",
        &wvkey,
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        stdout(&out).contains("cosigned by witness.example"),
        "{}",
        text(&out)
    );
}

#[test]
fn ac_104_ac_108_prove_inclusion_prints_a_tlog_proof_and_writes_nothing() {
    let f = fixture(6);
    let before = std::fs::read(&f.db).unwrap();
    let out = public(&["audit", "prove", "inclusion", s(&f.db), "4"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let proof = tlog::TlogProof::parse(&out.stdout).unwrap();
    // Record 4 is leaf 3.
    assert_eq!(proof.index(), 3);
    assert!(stdout(&out).contains("\nindex 3\n"));
    // The checkpoint is the latest stored one, verbatim.
    let note = std::fs::read_to_string(&f.note).unwrap();
    assert!(stdout(&out).ends_with(&note));
    // The extra line carries the record, whose leaf the proof proves.
    let record: AuditRecord = serde_json::from_slice(proof.extra().unwrap()).unwrap();
    assert_eq!(record.seq, 4);
    let vkey: VerifierKey = f.vkey.parse().unwrap();
    proof
        .verify_log_signature(&audit_core::leaf_hash(&record).unwrap(), ORIGIN, &vkey)
        .unwrap();
    // --no-record leaves it out.
    let bare = public(&["audit", "prove", "inclusion", s(&f.db), "4", "--no-record"]);
    assert_eq!(code(&bare), 0, "{}", text(&bare));
    assert!(
        tlog::TlogProof::parse(&bare.stdout)
            .unwrap()
            .extra()
            .is_none()
    );
    assert_eq!(std::fs::read(&f.db).unwrap(), before);
    // --size picks a stored checkpoint; a record it does not cover, a size
    // no checkpoint has, record 0: exit 2.
    append(&f.db, 3);
    let newer = f.dir.path().join("checkpoint-9.note");
    checkpoint(&f.db, &f.key, &newer);
    let before = std::fs::read(&f.db).unwrap();
    let at6 = public(&["audit", "prove", "inclusion", s(&f.db), "4", "--size", "6"]);
    assert_eq!(code(&at6), 0, "{}", text(&at6));
    assert!(stdout(&at6).ends_with(&note));
    let latest = public(&["audit", "prove", "inclusion", s(&f.db), "8"]);
    assert_eq!(code(&latest), 0, "{}", text(&latest));
    assert!(stdout(&latest).ends_with(&std::fs::read_to_string(&newer).unwrap()));
    for args in [
        vec!["audit", "prove", "inclusion", s(&f.db), "8", "--size", "6"],
        vec!["audit", "prove", "inclusion", s(&f.db), "4", "--size", "7"],
        vec!["audit", "prove", "inclusion", s(&f.db), "0"],
        vec!["audit", "prove", "inclusion", s(&f.db), "10"],
    ] {
        let out = public(&args);
        assert_eq!(code(&out), 2, "{args:?}: {}", text(&out));
        assert!(stdout(&out).is_empty());
    }
    // A log with no signed checkpoint yet.
    let dir = tempfile::tempdir().unwrap();
    let unsigned = dir.path().join("audit.db");
    append(&unsigned, 2);
    let out = public(&["audit", "prove", "inclusion", s(&unsigned), "1"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(
        text(&out).contains("no signed checkpoint"),
        "{}",
        text(&out)
    );
    // Readers never write.
    assert_eq!(std::fs::read(&f.db).unwrap(), before);
}

#[test]
fn ac_106_check_proof_of_inclusion_passes_and_a_modified_byte_fails() {
    let f = fixture(7);
    let out = public(&["audit", "prove", "inclusion", s(&f.db), "5"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let proof = stdout(&out);
    let file = f.dir.path().join("proof");
    std::fs::write(&file, &proof).unwrap();
    let check = |file: &Path, extra: &[&str]| {
        let mut args = vec!["audit", "check-proof", s(file), "--vkey", &f.vkey];
        args.extend_from_slice(extra);
        public(&args)
    };
    let ok = check(&file, &[]);
    assert_eq!(code(&ok), 0, "{}", text(&ok));
    assert!(
        stdout(&ok).starts_with("OK: record 5 is in the log"),
        "{}",
        text(&ok)
    );
    let ok = check(&file, &["--origin", ORIGIN]);
    assert_eq!(code(&ok), 0, "{}", text(&ok));

    // One byte of a proof hash changed: exit 1.
    let lines: Vec<&str> = proof.lines().collect();
    let at = lines.iter().position(|l| l.starts_with("index ")).unwrap() + 1;
    let mut modified: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    let first = modified[at].chars().next().unwrap();
    let swapped = if first == 'A' { 'B' } else { 'A' };
    modified[at].replace_range(0..1, &swapped.to_string());
    let modified_file = f.dir.path().join("modified");
    std::fs::write(&modified_file, modified.join("\n") + "\n").unwrap();
    let out = check(&modified_file, &[]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(stdout(&out).starts_with("FAILED:"), "{}", text(&out));

    // Another index for the same record: exit 1.
    let moved = f.dir.path().join("moved");
    std::fs::write(&moved, proof.replace("\nindex 4\n", "\nindex 3\n")).unwrap();
    assert_eq!(code(&check(&moved, &[])), 1);

    // Another key, another origin: exit 1.
    let (_, other) = keygen(f.dir.path(), "other.key");
    let out = public(&["audit", "check-proof", s(&file), "--vkey", &other]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert_eq!(
        code(&check(&file, &["--origin", "vram-residency/audit/other"])),
        1
    );

    // The record from an export instead of the proof: the right one
    // passes, another fails.
    let export = with_secret(&["audit", "export", s(&f.db), "--worker-id", WORKER]);
    assert_eq!(code(&export), 0, "{}", text(&export));
    let exported = stdout(&export);
    let record_lines: Vec<&str> = exported.lines().collect();
    let record5 = f.dir.path().join("record5.json");
    std::fs::write(&record5, format!("{}\n", record_lines[4])).unwrap();
    let record6 = f.dir.path().join("record6.json");
    std::fs::write(&record6, record_lines[5]).unwrap();
    let bare = public(&["audit", "prove", "inclusion", s(&f.db), "5", "--no-record"]);
    let bare_file = f.dir.path().join("bare");
    std::fs::write(&bare_file, &bare.stdout).unwrap();
    let out = check(&bare_file, &["--record", s(&record5)]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let out = check(&bare_file, &["--record", s(&record6)]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    // A record edited after export: its leaf is not the logged one.
    let edited = f.dir.path().join("edited.json");
    std::fs::write(&edited, record_lines[4].replace("llama:4", "evil:4")).unwrap();
    let out = check(&bare_file, &["--record", s(&edited)]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    // No record at all, or not a proof: bad input.
    assert_eq!(code(&check(&bare_file, &[])), 2);
    let garbage = f.dir.path().join("garbage");
    std::fs::write(&garbage, "hello\n").unwrap();
    assert_eq!(code(&check(&garbage, &[])), 2);
    let truncated = f.dir.path().join("truncated");
    std::fs::write(&truncated, &proof[..proof.find("\n\n").unwrap()]).unwrap();
    assert_eq!(code(&check(&truncated, &[])), 2);
    let out = check(Path::new("/dev/zero"), &[]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("more than"), "{}", text(&out));
}

#[test]
fn ac_105_ac_107_prove_consistency_then_check_proof() {
    let f = fixture(3);
    append(&f.db, 5);
    let newer = f.dir.path().join("checkpoint-8.note");
    checkpoint(&f.db, &f.key, &newer);
    let before = std::fs::read(&f.db).unwrap();
    let out = public(&["audit", "prove", "consistency", s(&f.db), "--from", "3"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let body = stdout(&out);
    // The tlog-witness add-checkpoint body: `old 3`, the proof, a blank
    // line, the newer signed checkpoint.
    assert!(body.starts_with("old 3\n"), "{body}");
    assert!(body.ends_with(&format!("\n\n{}", std::fs::read_to_string(&newer).unwrap())));
    let request = tlog::AddCheckpointRequest::parse(body.as_bytes()).unwrap();
    assert_eq!(request.old_size(), 3);
    assert!(!request.proof().is_empty());
    let file = f.dir.path().join("consistency");
    std::fs::write(&file, &body).unwrap();
    let check = |extra: &[&str]| {
        let mut args = vec!["audit", "check-proof", s(&file), "--vkey", &f.vkey];
        args.extend_from_slice(extra);
        public(&args)
    };
    let ok = check(&["--previous", s(&f.note)]);
    assert_eq!(code(&ok), 0, "{}", text(&ok));
    assert!(
        stdout(&ok).starts_with("OK: the checkpoint of 8 records"),
        "{}",
        text(&ok)
    );
    // Without the older checkpoint there is nothing to check against.
    let out = check(&[]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("--previous"), "{}", text(&out));
    // A fork: another history of 3 records signed with the same key.
    let dir = tempfile::tempdir().unwrap();
    let fork_db = dir.path().join("fork.db");
    let mut fork = AuditLog::open(&fork_db, WORKER, &secret()).unwrap();
    for i in 0..3 {
        fork.append(&AuditEvent::seal_verified(&format!("forged:{i}"), 1))
            .unwrap();
    }
    let fork_note = fork
        .signed_checkpoint(&audit_core::load_log_key(&f.key).unwrap())
        .unwrap();
    let fork_file = dir.path().join("fork.note");
    std::fs::write(&fork_file, fork_note).unwrap();
    let out = check(&["--previous", s(&fork_file)]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(stdout(&out).starts_with("FAILED:"), "{}", text(&out));
    // A modified proof line: exit 1.
    let lines: Vec<&str> = body.lines().collect();
    let mut modified: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    let first = modified[1].chars().next().unwrap();
    let swapped = if first == 'A' { 'B' } else { 'A' };
    modified[1].replace_range(0..1, &swapped.to_string());
    std::fs::write(&file, modified.join("\n") + "\n").unwrap();
    let out = check(&["--previous", s(&f.note)]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    // A rollback: the previous checkpoint is larger than the proof's.
    let back = public(&[
        "audit",
        "prove",
        "consistency",
        s(&f.db),
        "--from",
        "0",
        "--to",
        "3",
    ]);
    assert_eq!(code(&back), 0, "{}", text(&back));
    std::fs::write(&file, &back.stdout).unwrap();
    let out = check(&["--previous", s(&newer)]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(stdout(&out).contains("rolled back"), "{}", text(&out));
    // From 0 needs no older checkpoint.
    let out = check(&[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    // --from beyond the checkpoint, --to no checkpoint has: exit 2.
    for args in [
        vec!["audit", "prove", "consistency", s(&f.db), "--from", "9"],
        vec![
            "audit",
            "prove",
            "consistency",
            s(&f.db),
            "--from",
            "1",
            "--to",
            "5",
        ],
    ] {
        let out = public(&args);
        assert_eq!(code(&out), 2, "{args:?}: {}", text(&out));
    }
    // Readers never write.
    assert_eq!(std::fs::read(&f.db).unwrap(), before);
}

#[test]
fn ac_109_no_output_shows_the_log_key() {
    let f = fixture(2);
    let private = private_part(&f.key);
    let mut outputs = Vec::new();
    // A key file that others may read is refused, without showing it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let open = f.dir.path().join("open.key");
        std::fs::copy(&f.key, &open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = with_secret(&[
            "audit",
            "checkpoint",
            s(&f.db),
            "--worker-id",
            WORKER,
            "--key",
            s(&open),
        ]);
        assert_eq!(code(&out), 2, "{}", text(&out));
        assert!(text(&out).contains("chmod 600"), "{}", text(&out));
        outputs.push(out);
    }
    // A key file that is not one, and a private key given as a vkey.
    let damaged = f.dir.path().join("damaged.key");
    let skey = std::fs::read_to_string(&f.key).unwrap();
    std::fs::write(&damaged, skey.replace("PRIVATE+KEY+", "PRIVATE+KEY+x")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&damaged, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let out = with_secret(&[
        "audit",
        "checkpoint",
        s(&f.db),
        "--worker-id",
        WORKER,
        "--key",
        s(&damaged),
    ]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    outputs.push(out);
    let proof = public(&["audit", "prove", "inclusion", s(&f.db), "1"]);
    let proof_file = f.dir.path().join("proof");
    std::fs::write(&proof_file, &proof.stdout).unwrap();
    let out = public(&[
        "audit",
        "check-proof",
        s(&proof_file),
        "--vkey",
        skey.trim_end(),
    ]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    outputs.push(out);
    outputs.push(proof);
    outputs.push(verify_public(&f, &["--json"]));
    for out in &outputs {
        assert!(!text(out).contains(&private), "{}", text(out));
        assert!(!text(out).contains("PRIVATE+KEY"), "{}", text(out));
    }
}
