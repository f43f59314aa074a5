//! Attack regressions (AC-096): each test replays an attack on a peer's
//! log, by an attacker who holds the worker secret, the file, and (where
//! said) the log key, and shows where the public layer catches it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};

use audit_core::tlog::{self, Hash};
use audit_core::{AuditEvent, AuditLog, PublicFailure, verify_public};
use common::*;

fn vkey() -> tlog::VerifierKey {
    log_key().verifier_key()
}

fn public(path: &Path, note: Option<&str>, previous: Option<&str>) -> Option<PublicFailure> {
    verify_public(path, &vkey(), note, previous, &[], 0)
        .unwrap()
        .failure
}

/// Writes a log of `events` in one batch, signs a checkpoint with `key`,
/// returns its note.
fn write_signed(path: &Path, events: &[AuditEvent], key: &tlog::SignerKey) -> String {
    let mut log = AuditLog::open(path, WORKER, &secret()).unwrap();
    log.append_batch(events).unwrap();
    log.signed_checkpoint(key).unwrap()
}

fn copy(path: &Path, to: &Path) -> PathBuf {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute("VACUUM INTO ?1", [to.to_str().unwrap()])
        .unwrap();
    to.to_path_buf()
}

/// A forged history: the honest events with event `k` replaced.
fn forged_events(n: u64, k: u64) -> Vec<AuditEvent> {
    (1..=n)
        .map(|i| {
            if i == k {
                AuditEvent::custom(
                    "TestEvent",
                    audit_core::Severity::Low,
                    None,
                    serde_json::json!({"i": i, "marker": "nothing happened here"}),
                )
                .unwrap()
            } else {
                event(i)
            }
        })
        .collect()
}

/// AC-096, journald CVE-2023-31439 (entries forged and re-sealed with the
/// current key): a compromised host holding the worker secret rewrites
/// record 7, recomputes the whole HMAC chain and tree, and signs a new
/// checkpoint, with the log key it also stole, or with a new key. The
/// chain verifies with the secret; against the checkpoint a witness
/// cosigned before, the rewrite is caught by consistency.
#[test]
fn ac_096_journald_cve_2023_31439_resealed_history_is_caught_by_consistency() {
    let dir = tempfile::tempdir().unwrap();
    let honest = dir.path().join("honest.db");
    let events: Vec<_> = (1..=20).map(event).collect();
    let witnessed = write_signed(&honest, &events, &log_key());
    let w = witness("witness.example/one", 0x31);
    let cosigned = {
        let mut log = AuditLog::open(&honest, WORKER, &secret()).unwrap();
        let request = log.add_checkpoint_request(0, None).unwrap().to_string();
        let line = witness_cosigns(&w, &request, None, 1_700_000_000);
        log.add_cosignatures(20, &line, &[w.verifier_key()])
            .unwrap()
    };
    assert!(public(&honest, Some(&cosigned), None).is_none());

    // The rewrite, with the same secret and the stolen log key, then more
    // records on top: everything checks out on the file alone.
    let forged = dir.path().join("forged.db");
    let mut rewritten = forged_events(20, 7);
    rewritten.extend((21..=25).map(event));
    let resigned = write_signed(&forged, &rewritten, &log_key());
    assert!(
        verify(&forged).is_ok(),
        "the HMAC chain alone cannot see it"
    );
    assert!(
        public(&forged, None, None).is_none(),
        "nor the file's own checkpoint"
    );

    // Against the witnessed checkpoint it cannot pass.
    assert_eq!(
        public(&forged, Some(&resigned), Some(&cosigned)),
        Some(PublicFailure::Inconsistent {
            previous_size: 20,
            size: 25
        })
    );
    assert_eq!(
        public(&forged, Some(&witnessed), None),
        Some(PublicFailure::RootMismatch { size: 20 })
    );
    // The witness refuses to cosign it: the proof from its state fails.
    let forged_log = AuditLog::open_read(&forged, WORKER, &secret()).unwrap();
    let request = forged_log.add_checkpoint_request(20, None).unwrap();
    let honest_root = AuditLog::open_read(&honest, WORKER, &secret())
        .unwrap()
        .tree_root(20)
        .unwrap();
    assert!(request.check_consistency(&honest_root).is_err());
    // And with the witness policy, the re-signed checkpoint has no quorum.
    let report = verify_public(&forged, &vkey(), None, None, &[w.verifier_key()], 1).unwrap();
    assert!(matches!(
        report.failure,
        Some(PublicFailure::QuorumNotMet { cosigned: 0, .. })
    ));

    // Signed with a new key instead: not the log's key.
    let other = dir.path().join("other-key.db");
    let new_key = key_for(WORKER, 0x77);
    write_signed(&other, &rewritten, &new_key);
    assert!(verify(&other).is_ok());
    assert!(matches!(
        public(&other, None, None),
        Some(PublicFailure::CheckpointRejected { .. })
    ));
    // A checkpoint key derived from the worker secret would not help: the
    // attacker has the secret. The JSON checkpoint shows it.
    let derived = audit_core::CheckpointSigner::derive(&secret()).unwrap();
    let json = AuditLog::open_read(&forged, WORKER, &secret())
        .unwrap()
        .checkpoint(&derived)
        .unwrap();
    assert!(json.verify(&derived.public_key()).is_ok());
}

/// AC-096: an older copy of the file put back (rollback, journald
/// CVE-2023-31438's "truncate and resume" in its simplest form) is
/// reported against a later checkpoint, given as the one to check or as
/// the previous one.
#[test]
fn ac_096_an_older_copy_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let events: Vec<_> = (1..=10).map(event).collect();
    let at_10 = write_signed(&path, &events, &log_key());
    let old = copy(&path, &dir.path().join("old.db"));
    let later: Vec<_> = (11..=20).map(event).collect();
    let at_20 = write_signed(&path, &later, &log_key());
    assert!(public(&path, Some(&at_20), Some(&at_10)).is_none());

    assert!(verify(&old).is_ok());
    assert!(public(&old, None, None).is_none(), "alone it looks fine");
    assert_eq!(
        public(&old, Some(&at_20), None),
        Some(PublicFailure::CheckpointBeyondLog {
            checkpoint_size: 20,
            tree_size: 10
        })
    );
    assert_eq!(
        public(&old, None, Some(&at_20)),
        Some(PublicFailure::RolledBack {
            previous_size: 20,
            size: 10
        })
    );
    // Truncate and resume: cut back to 10 and append 12 new records.
    let resumed = copy(&old, &dir.path().join("resumed.db"));
    let other: Vec<_> = (100..112).map(event).collect();
    let at_22 = write_signed(&resumed, &other, &log_key());
    assert_eq!(
        public(&resumed, Some(&at_22), Some(&at_20)),
        Some(PublicFailure::Inconsistent {
            previous_size: 20,
            size: 22
        })
    );
}

/// AC-096: a fork (two histories from one state, both signed) is reported:
/// at the same size as equivocation, at different sizes as inconsistency.
#[test]
fn ac_096_a_fork_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let events: Vec<_> = (1..=10).map(event).collect();
    write_signed(&path, &events, &log_key());
    let fork = copy(&path, &dir.path().join("fork.db"));
    let fork2 = copy(&path, &dir.path().join("fork2.db"));
    let main = write_signed(&path, &(11..=15).map(event).collect::<Vec<_>>(), &log_key());
    let other = write_signed(&fork, &(50..=54).map(event).collect::<Vec<_>>(), &log_key());
    assert!(public(&fork, None, None).is_none());
    assert_eq!(
        public(&fork, None, Some(&main)),
        Some(PublicFailure::Forked { size: 15 })
    );
    assert_eq!(
        public(&path, None, Some(&other)),
        Some(PublicFailure::Forked { size: 15 })
    );
    let longer = write_signed(
        &fork2,
        &(60..=65).map(event).collect::<Vec<_>>(),
        &log_key(),
    );
    assert_eq!(
        public(&fork2, Some(&longer), Some(&main)),
        Some(PublicFailure::Inconsistent {
            previous_size: 15,
            size: 16
        })
    );
}

/// AC-096, immudb GHSA-672p-m5jq-mrh8 (a record proved under one state is
/// shown with other contents under a later one): record 4 is proved
/// included under checkpoint A; a rewritten log shows record 4 with other
/// contents under a later checkpoint B, with a valid inclusion proof into
/// B. A verifier holding A rejects it: B does not extend A, and the new
/// record 4 does not prove into A.
#[test]
fn ac_096_immudb_ghsa_672p_record_shown_with_other_contents_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let honest = dir.path().join("honest.db");
    let a = write_signed(
        &honest,
        &(1..=10).map(event).collect::<Vec<_>>(),
        &log_key(),
    );
    let origin = audit_core::log_origin(WORKER).unwrap();
    let log = AuditLog::open_read(&honest, WORKER, &secret()).unwrap();
    let proof_a = log.tlog_proof(4, Some(&a)).unwrap();
    let leaf_a = log.leaf_hash(4).unwrap();
    proof_a
        .verify_log_signature(&leaf_a, &origin, &vkey())
        .unwrap();
    let root_a = log.tree_root(10).unwrap();
    drop(log);

    let forged = dir.path().join("forged.db");
    let mut rewritten = forged_events(10, 4);
    rewritten.extend((11..=15).map(event));
    let b = write_signed(&forged, &rewritten, &log_key());
    let log = AuditLog::open_read(&forged, WORKER, &secret()).unwrap();
    let leaf_b = log.leaf_hash(4).unwrap();
    assert_ne!(leaf_a, leaf_b);
    let proof_b = log.tlog_proof(4, Some(&b)).unwrap();
    proof_b
        .verify_log_signature(&leaf_b, &origin, &vkey())
        .unwrap();

    // The verifier that holds A: the advance from A to B fails ...
    let advance = log.add_checkpoint_request(10, Some(&b)).unwrap();
    assert!(advance.check_consistency(&root_a).is_err());
    assert_eq!(
        public(&forged, Some(&b), Some(&a)),
        Some(PublicFailure::Inconsistent {
            previous_size: 10,
            size: 15
        })
    );
    // ... and the new contents do not prove into A, nor the old into B.
    assert!(
        proof_a
            .verify_log_signature(&leaf_b, &origin, &vkey())
            .is_err()
    );
    assert!(
        proof_b
            .verify_log_signature(&leaf_a, &origin, &vkey())
            .is_err()
    );
    // No mixed history either: the record and the tree must agree, in the
    // same transaction, so a leaf cannot differ from its record.
    let conn = attacker(&forged);
    let index = tlog::stored_hash_index(0, 3).unwrap();
    set_tree_hash(&conn, index, leaf_a.as_bytes());
    assert_eq!(
        public(&forged, Some(&b), None),
        Some(PublicFailure::LeafMismatch { seq: 4 })
    );
}

/// AC-096, AC-017: public verification, proofs and the stored checkpoints
/// are read without changing a byte of the database or its `-wal`, and
/// without creating a `-shm`, on a closed log and on a live one.
#[test]
fn ac_096_readers_never_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let note = write_signed(&path, &(1..=30).map(event).collect::<Vec<_>>(), &log_key());
    let read_everything = |path: &Path| {
        assert!(public(path, None, None).is_none());
        assert!(public(path, Some(&note), Some(&note)).is_none());
        let log = AuditLog::open_read(path, WORKER, &secret()).unwrap();
        log.tlog_proof(3, None).unwrap();
        log.add_checkpoint_request(5, None).unwrap();
        log.consistency_proof(3, 30).unwrap();
        let _: Hash = log.tree_root(17).unwrap();
        assert_eq!(log.signed_checkpoints().unwrap().len(), 1);
        assert!(log.verify(None).unwrap().is_ok());
    };
    // Closed: no -wal.
    let before = snapshot_files(&path);
    read_everything(&path);
    assert_eq!(snapshot_files(&path), before);
    // Live: a writer holds the log open, its newest records in the -wal.
    let mut writer = AuditLog::open(&path, WORKER, &secret()).unwrap();
    writer.append(&event(31)).unwrap();
    let before = snapshot_files(&path);
    assert!(before[1].1.as_ref().is_some_and(|wal| !wal.is_empty()));
    read_everything(&path);
    assert_eq!(snapshot_files(&path), before);
    drop(writer);
}
