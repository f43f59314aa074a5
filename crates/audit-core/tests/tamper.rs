//! Every tamper case of the spec (AC-012..AC-018, AC-030..AC-053), on real
//! database files.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use audit_core::{
    AuditError, AuditLog, CheckpointSigner, FailureReason, RetentionPolicy, verify_log,
    verify_log_against_checkpoint, verify_ndjson,
};
use common::*;

#[test]
fn ac_030_untouched_log_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 50);
    let report = verify(&path);
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.records_checked, 50);
    assert_eq!((report.first_seq, report.last_seq), (Some(1), Some(50)));
}

/// AC-030: a log of several blocks of rows (2,048 each) is walked to its
/// end: every record counted, and an edit of the very last one found.
#[test]
fn ac_030_every_block_of_a_long_log_is_checked() {
    let n = 3 * 2048 + 7;
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", n);
    let report = verify(&path);
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.records_checked, n);
    assert_eq!(report.last_seq, Some(n));
    for seq in [2049, n] {
        let dir = tempfile::tempdir().unwrap();
        let path = build(dir.path(), "a.db", n);
        attacker(&path)
            .execute(
                "UPDATE records SET severity = 0 WHERE seq = ?1",
                [seq as i64],
            )
            .unwrap();
        let report = verify(&path);
        assert_eq!(failure(&report), (Some(seq), FailureReason::MacMismatch));
    }
}

/// AC-030: of several failures in one block of rows, the first record's is
/// reported, whatever kind each is: an edit before a deletion is the edit.
#[test]
fn ac_030_the_first_failing_record_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 30);
    let attacker = attacker(&path);
    attacker
        .execute("UPDATE records SET severity = 0 WHERE seq = 9", [])
        .unwrap();
    attacker
        .execute("DELETE FROM records WHERE seq = 20", [])
        .unwrap();
    drop(attacker);
    let report = verify(&path);
    assert_eq!(failure(&report), (Some(9), FailureReason::MacMismatch));
    assert_eq!(report.records_checked, 8);
}

#[test]
fn ac_031_sql_edit_is_a_mac_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 50);
    attacker(&path)
        .execute("UPDATE records SET severity = 0 WHERE seq = 17", [])
        .unwrap();
    let report = verify(&path);
    assert_eq!(failure(&report), (Some(17), FailureReason::MacMismatch));
    assert_eq!(report.records_checked, 16);
    assert_eq!(report.last_seq, Some(16));
}

#[test]
fn ac_031_byte_edit_of_the_file_is_a_mac_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 100);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    }
    let mut bytes = std::fs::read(&path).unwrap();
    let needle = b"MARKER-00042";
    let hits: Vec<usize> = bytes
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| w == needle)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "marker must be in the main file exactly once"
    );
    bytes[hits[0] + needle.len() - 1] = b'7';
    std::fs::write(&path, bytes).unwrap();
    assert_eq!(
        failure(&verify(&path)),
        (Some(42), FailureReason::MacMismatch)
    );
}

#[test]
fn ac_033_deleted_record_is_a_sequence_gap() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 30);
    attacker(&path)
        .execute("DELETE FROM records WHERE seq = 12", [])
        .unwrap();
    assert_eq!(
        failure(&verify(&path)),
        (
            Some(13),
            FailureReason::SequenceGap {
                expected: 12,
                found: 13
            }
        )
    );
}

#[test]
fn ac_034_deleted_first_record_is_a_sequence_gap() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 5);
    attacker(&path)
        .execute("DELETE FROM records WHERE seq = 1", [])
        .unwrap();
    assert_eq!(
        failure(&verify(&path)),
        (
            Some(2),
            FailureReason::SequenceGap {
                expected: 1,
                found: 2
            }
        )
    );
}

#[test]
fn ac_035_inserted_record_is_a_broken_link() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 20);
    insert_copy(&attacker(&path), 3, 10);
    assert_eq!(
        failure(&verify(&path)),
        (Some(10), FailureReason::BrokenLink)
    );
}

#[test]
fn ac_036_reordered_records_are_a_broken_link() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 20);
    swap(&attacker(&path), 7, 8);
    assert_eq!(
        failure(&verify(&path)),
        (Some(7), FailureReason::BrokenLink)
    );
}

#[test]
fn ac_037_forged_prev_mac_is_a_broken_link() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 20);
    attacker(&path)
        .execute(
            "UPDATE records SET prev_mac = zeroblob(32) WHERE seq = 5",
            [],
        )
        .unwrap();
    assert_eq!(
        failure(&verify(&path)),
        (Some(5), FailureReason::BrokenLink)
    );
}

#[test]
fn ac_038_foreign_worker_or_secret_is_wrong_genesis() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 5);
    // Same secret, other worker id.
    let report = verify_log(&path, "worker-b", &secret(), None).unwrap();
    assert_eq!(failure(&report), (Some(1), FailureReason::WrongGenesis));
    // Same worker id, other secret.
    let other = seal_crypto::WorkerSecret::new(&[0x22; 32]).unwrap();
    let report = verify_log(&path, WORKER, &other, None).unwrap();
    assert_eq!(failure(&report), (Some(1), FailureReason::WrongGenesis));
    // A writer refuses to append to it.
    assert!(matches!(
        AuditLog::open(&path, "worker-b", &secret()),
        Err(AuditError::WorkerMismatch { .. })
    ));
}

#[test]
fn ac_013_unknown_schema_is_refused_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 3);
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 7)
        .unwrap();
    let err = AuditLog::open(&path, WORKER, &secret()).unwrap_err();
    assert_eq!(
        err,
        AuditError::UnknownSchema {
            found: 7,
            supported: audit_core::SCHEMA_VERSION
        }
    );
    assert!(err.to_string().contains("version 7"));
    assert_eq!(
        failure(&verify(&path)),
        (None, FailureReason::UnknownSchema { found: 7 })
    );
}

#[test]
fn ac_018_other_sqlite_files_are_not_audit_logs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    assert!(matches!(
        AuditLog::open(&path, WORKER, &secret()),
        Err(AuditError::NotAnAuditLog { .. })
    ));
    assert!(matches!(
        verify_log(dir.path().join("missing.db"), WORKER, &secret(), None),
        Err(AuditError::NotFound { .. })
    ));
}

#[test]
fn ac_012_triggers_refuse_update_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 3);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let e = conn
        .execute("UPDATE records SET kind = 'x' WHERE seq = 1", [])
        .unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    let e = conn
        .execute("DELETE FROM records WHERE seq = 3", [])
        .unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    let e = conn.execute("DELETE FROM meta", []).unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    let e = conn
        .execute(
            "UPDATE meta SET value = 'worker-z' WHERE key = 'worker_id'",
            [],
        )
        .unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    drop(conn);
    // Anchors exist once retention ran; they are as fixed as records.
    AuditLog::open(&path, WORKER, &secret())
        .unwrap()
        .apply_retention(&RetentionPolicy::default().with_max_records(2))
        .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    for sql in [
        "UPDATE anchors SET dropped = 0",
        "UPDATE anchors SET seq = seq + 1",
        "DELETE FROM anchors",
    ] {
        let e = conn.execute(sql, []).unwrap_err();
        assert!(e.to_string().contains("append-only"), "{sql}: {e}");
    }
    assert!(verify(&path).is_ok());
}

/// AC-014: opening for writing checks the whole tail, all
/// `TAIL_CHECK_RECORDS` of it: an edit at its oldest record is refused.
#[test]
fn ac_014_the_whole_tail_is_checked_on_open() {
    let dir = tempfile::tempdir().unwrap();
    // The spec's figure, not the constant: shrinking either fails here.
    let tail = 1024;
    assert_eq!(audit_core::TAIL_CHECK_RECORDS, tail);
    let total = tail + 40;
    let path = build(dir.path(), "a.db", total);
    let oldest_checked = total - tail + 1;
    attacker(&path)
        .execute(
            "UPDATE records SET event = '{}' WHERE seq = ?1",
            [oldest_checked as i64],
        )
        .unwrap();
    let err = AuditLog::open(&path, WORKER, &secret()).unwrap_err();
    assert!(
        matches!(err, AuditError::BrokenTail { seq, .. } if seq == oldest_checked),
        "{err:?}"
    );
    // And no more than the tail: the open's cost is bounded. A record just
    // before it is the full verification's to find.
    let path = build(dir.path(), "b.db", total);
    attacker(&path)
        .execute(
            "UPDATE records SET event = '{}' WHERE seq = ?1",
            [(oldest_checked - 1) as i64],
        )
        .unwrap();
    let log = AuditLog::open(&path, WORKER, &secret()).unwrap();
    assert_eq!(log.worker_id(), WORKER);
    assert_eq!(
        log.verify(None).unwrap().failure.and_then(|f| f.seq),
        Some(oldest_checked - 1)
    );
}

#[test]
fn ac_043_truncation_is_caught_by_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 40);
    let signer = CheckpointSigner::derive(&secret()).unwrap();
    let checkpoint = AuditLog::open_read(&path, WORKER, &secret())
        .unwrap()
        .checkpoint(&signer)
        .unwrap();
    assert_eq!((checkpoint.last_seq, checkpoint.record_count), (40, 40));
    cut_tail(&attacker(&path), 33);
    assert!(
        verify(&path).is_ok(),
        "neither the chain nor the tree alone can see a tail cut whole"
    );
    let report =
        verify_log_against_checkpoint(&path, WORKER, &secret(), &checkpoint, &signer.public_key())
            .unwrap();
    assert_eq!(
        failure(&report),
        (
            Some(40),
            FailureReason::Truncated {
                checkpoint_seq: 40,
                log_last_seq: 33
            }
        )
    );
}

#[test]
fn ac_043_rollback_is_caught_by_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 10);
    let old = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute("VACUUM INTO ?1", [old.to_str().unwrap()])
            .unwrap();
    }
    let signer = CheckpointSigner::derive(&secret()).unwrap();
    {
        let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
        log.append_batch(&(11..=20).map(event).collect::<Vec<_>>())
            .unwrap();
        let checkpoint = log.checkpoint(&signer).unwrap();
        std::fs::write(dir.path().join("cp.json"), checkpoint.to_json().unwrap()).unwrap();
    }
    let checkpoint = audit_core::Checkpoint::from_json(
        &std::fs::read_to_string(dir.path().join("cp.json")).unwrap(),
    )
    .unwrap();
    // The older copy is put back ...
    std::fs::copy(&old, &path).unwrap();
    let _ = std::fs::remove_file(dir.path().join("a.db-wal"));
    let _ = std::fs::remove_file(dir.path().join("a.db-shm"));
    let key = signer.public_key();
    let report =
        verify_log_against_checkpoint(&path, WORKER, &secret(), &checkpoint, &key).unwrap();
    assert_eq!(
        failure(&report),
        (
            Some(20),
            FailureReason::Truncated {
                checkpoint_seq: 20,
                log_last_seq: 10
            }
        )
    );
    // ... and written on past the checkpoint: a fork.
    let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
    log.append_batch(&(100..=115).map(event).collect::<Vec<_>>())
        .unwrap();
    assert!(log.verify(None).unwrap().is_ok());
    let report = log.verify_against_checkpoint(&checkpoint, &key).unwrap();
    assert_eq!(
        failure(&report),
        (Some(20), FailureReason::RolledBack { checkpoint_seq: 20 })
    );
}

#[test]
fn ac_042_ac_044_checkpoints_are_signed() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 4);
    let log = AuditLog::open_read(&path, WORKER, &secret()).unwrap();
    let signer = CheckpointSigner::derive(&secret()).unwrap();
    let key = signer.public_key();
    let checkpoint = log.checkpoint(&signer).unwrap();
    checkpoint.verify(&key).unwrap();
    assert!(
        log.verify_against_checkpoint(&checkpoint, &key)
            .unwrap()
            .is_ok()
    );
    assert_eq!(
        checkpoint
            .public_key
            .parse::<audit_core::CheckpointPublicKey>()
            .unwrap(),
        key
    );
    let mut forged = checkpoint.clone();
    forged.last_seq = 3;
    assert!(matches!(
        forged.verify(&key),
        Err(AuditError::Checkpoint { .. })
    ));
    let other =
        CheckpointSigner::derive(&seal_crypto::WorkerSecret::new(&[9; 32]).unwrap()).unwrap();
    assert!(checkpoint.verify(&other.public_key()).is_err());
    let mut bad = checkpoint.clone();
    bad.signature.truncate(10);
    assert!(bad.verify(&key).is_err());
    assert!("abcd".parse::<audit_core::CheckpointPublicKey>().is_err());
    // Its raw bytes are the ones its text spells, and they make it again.
    assert_eq!(
        audit_core::CheckpointPublicKey::from_bytes(&key.to_bytes()).unwrap(),
        key
    );
    assert_eq!(audit_core::hex::encode(&key.to_bytes()), key.to_string());
    assert_eq!(format!("{key:?}"), format!("CheckpointPublicKey({key})"));
    // The derived checkpoint key is stable and shows no secret in Debug.
    assert_eq!(
        CheckpointSigner::derive(&secret()).unwrap().public_key(),
        key
    );
    assert!(format!("{signer:?}").contains(&key.to_string()));
}

#[test]
fn ac_014_broken_tail_is_refused_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 10);
    attacker(&path)
        .execute("UPDATE records SET event = '{}' WHERE seq = 10", [])
        .unwrap();
    let err = AuditLog::open(&path, WORKER, &secret()).unwrap_err();
    assert!(
        matches!(err, AuditError::BrokenTail { seq: 10, .. }),
        "{err:?}"
    );
}

#[test]
fn ac_050_retention_keeps_the_chain_verifiable() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 100);
    let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
    let report = log
        .apply_retention(&RetentionPolicy::default().with_max_records(30))
        .unwrap();
    assert_eq!(report.dropped, 70);
    assert_eq!(report.anchor_seq, Some(70));
    assert_eq!(report.retention_record_seq, Some(101));
    let v = log.verify(None).unwrap();
    assert!(v.is_ok(), "{v:?}");
    assert_eq!(
        (v.first_seq, v.last_seq, v.records_checked),
        (Some(71), Some(101), 31)
    );
    let retention = log.get(101).unwrap().unwrap();
    assert_eq!(retention.kind, "AuditRetention");
    assert_eq!(retention.event["dropped_records"], 70);
    // Appending and reopening continue the chain.
    log.append(&event(102)).unwrap();
    drop(log);
    let log = AuditLog::open(&path, WORKER, &secret()).unwrap();
    assert!(log.verify(None).unwrap().is_ok());
    assert!(log.verify(Some(90..=95)).unwrap().is_ok());
}

#[test]
fn ac_051_retention_by_age_and_size_drops_whole_ranges_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
    let now = chrono::Utc::now();
    let old: Vec<_> = (1..=10)
        .map(|i| event(i).with_timestamp(now - chrono::Duration::days(40)))
        .collect();
    log.append_batch(&old).unwrap();
    let young: Vec<_> = (11..=20).map(event).collect();
    log.append_batch(&young).unwrap();
    let report = log
        .apply_retention(&RetentionPolicy::max_age_days(30))
        .unwrap();
    assert_eq!((report.dropped, report.anchor_seq), (10, Some(10)));
    assert!(log.verify(None).unwrap().is_ok());
    // Nothing more is old: a second run drops nothing.
    assert_eq!(
        log.apply_retention(&RetentionPolicy::max_age_days(30))
            .unwrap()
            .dropped,
        0
    );
    // Size: keep about 1 KiB (about 6 records).
    let report = log
        .apply_retention(&RetentionPolicy::default().with_max_bytes(1024))
        .unwrap();
    assert!(report.dropped > 0 && log.record_count().unwrap() >= 1);
    assert!(log.verify(None).unwrap().is_ok());
    // Everything old: the newest record always stays.
    let report = log
        .apply_retention_at(
            &RetentionPolicy::max_age_days(1),
            now + chrono::Duration::days(10),
        )
        .unwrap();
    assert!(report.dropped > 0);
    assert!(log.record_count().unwrap() >= 1);
    assert!(log.verify(None).unwrap().is_ok());
}

#[test]
fn ac_052_deleting_below_no_anchor_or_forging_one_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 20);
    let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
    log.apply_retention(&RetentionPolicy::default().with_max_records(15))
        .unwrap();
    drop(log);
    // Cutting more off the start than the anchor allows.
    let conn = attacker(&path);
    conn.execute("DELETE FROM records WHERE seq <= 7", [])
        .unwrap();
    assert_eq!(
        failure(&verify(&path)),
        (
            Some(8),
            FailureReason::SequenceGap {
                expected: 6,
                found: 8
            }
        )
    );
    // Forging an anchor to cover it.
    conn.execute(
        "INSERT INTO anchors SELECT 7, mac, 7, 0, zeroblob(32) FROM anchors WHERE seq = 5",
        [],
    )
    .unwrap();
    assert_eq!(failure(&verify(&path)), (Some(7), FailureReason::BadAnchor));
}

#[test]
fn ac_053_ndjson_export_verifies_and_catches_edits() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 25);
    let log = AuditLog::open_read(&path, WORKER, &secret()).unwrap();
    let mut out = Vec::new();
    assert_eq!(log.export_ndjson(None, &mut out).unwrap(), 25);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count(), 25);
    let report = verify_ndjson(text.as_bytes(), WORKER, &secret()).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.records_checked, 25);
    // A range export verifies from its first record on.
    let mut part = Vec::new();
    log.export_ndjson(Some(10..=20), &mut part).unwrap();
    let report = verify_ndjson(part.as_slice(), WORKER, &secret()).unwrap();
    assert_eq!((report.records_checked, report.first_seq), (11, Some(10)));
    // Edited, deleted and foreign exports fail.
    let edited = text.replace("MARKER-00013", "MARKER-00099");
    assert_eq!(
        failure(&verify_ndjson(edited.as_bytes(), WORKER, &secret()).unwrap()),
        (Some(13), FailureReason::MacMismatch)
    );
    let deleted: String = text
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 4)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    assert_eq!(
        failure(&verify_ndjson(deleted.as_bytes(), WORKER, &secret()).unwrap()),
        (
            Some(6),
            FailureReason::SequenceGap {
                expected: 5,
                found: 6
            }
        )
    );
    assert_eq!(
        failure(&verify_ndjson(text.as_bytes(), "worker-b", &secret()).unwrap()),
        (Some(1), FailureReason::WrongGenesis)
    );
    assert!(matches!(
        verify_ndjson("not json\n".as_bytes(), WORKER, &secret()),
        Err(AuditError::Export { line: 1, .. })
    ));
    // A MAC that is not hex: malformed at that record, the ones before it
    // checked.
    let lines: Vec<&str> = text.lines().collect();
    let record: serde_json::Value = serde_json::from_str(lines[7]).unwrap();
    let mac = record["mac"].as_str().unwrap().to_owned();
    let bad: String = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i == 7 {
                format!("{}\n", l.replace(&mac, &"zz".repeat(32)))
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let report = verify_ndjson(bad.as_bytes(), WORKER, &secret()).unwrap();
    assert!(
        matches!(failure(&report), (Some(8), FailureReason::Malformed { .. })),
        "{report:?}"
    );
    assert_eq!((report.records_checked, report.last_seq), (7, Some(7)));
}

/// AC-053: an export longer than one block of records (4,096) is checked
/// block by block, and a failure in an early block is reported with the
/// records checked before it.
#[test]
fn ac_053_a_long_export_fails_at_its_first_bad_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 5000);
    let log = AuditLog::open_read(&path, WORKER, &secret()).unwrap();
    let mut out = Vec::new();
    log.export_ndjson(None, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let report = verify_ndjson(text.as_bytes(), WORKER, &secret()).unwrap();
    assert_eq!(report.records_checked, 5000, "{report:?}");
    let edited = text.replace("MARKER-00013", "MARKER-00099");
    let report = verify_ndjson(edited.as_bytes(), WORKER, &secret()).unwrap();
    assert_eq!(failure(&report), (Some(13), FailureReason::MacMismatch));
    assert_eq!((report.records_checked, report.last_seq), (12, Some(12)));
}

/// AC-041: a range whose records were deleted — all of them, or its tail —
/// is a gap, not an empty success, because later records prove it was full.
#[test]
fn ac_041_deleted_records_inside_a_range_are_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "range.db", 20);
    let conn = attacker(&path);
    conn.execute("DELETE FROM records WHERE seq BETWEEN 8 AND 10", [])
        .unwrap();
    drop(conn);
    let try_check =
        |lo: u64, hi: u64| audit_core::verify_log(&path, WORKER, &secret(), Some(lo..=hi));
    let check = |lo: u64, hi: u64| try_check(lo, hi).unwrap();
    for (lo, hi, expected) in [(8, 10, 8), (5, 10, 8), (5, 9, 8), (9, 15, 9)] {
        let report = check(lo, hi);
        assert_eq!(
            failure(&report),
            (
                Some(11),
                FailureReason::SequenceGap {
                    expected,
                    found: 11
                }
            ),
            "range {lo}..={hi}"
        );
    }
    // Ranges that do not touch the hole still verify.
    assert!(check(1, 7).is_ok());
    assert!(check(11, 20).is_ok());
    // A range past the end holds nothing: a usage error naming what the
    // log holds, never "OK: 0 records" (AC-049).
    for (lo, hi) in [(25, 30), (21, 21), (0, 0)] {
        assert_eq!(
            try_check(lo, hi),
            Err(AuditError::EmptyRange {
                from: lo,
                to: hi,
                first: Some(1),
                last: Some(20)
            }),
            "range {lo}..={hi}"
        );
    }
    // The error says what the log holds, or that it holds nothing.
    assert_eq!(
        try_check(25, 30).unwrap_err().to_string(),
        "no records in seq 25..=30: the log holds seq 1..=20; give a range inside it"
    );
    let empty = AuditError::EmptyRange {
        from: 1,
        to: 2,
        first: None,
        last: None,
    };
    assert_eq!(
        empty.to_string(),
        "no records in seq 1..=2: the log has no records"
    );
}

/// AC-015: a batch is one transaction. An insert that fails in the middle
/// of a batch (here a trigger planted to refuse seq 5) leaves none of the
/// batch behind; the log still verifies and takes the batch later whole.
#[test]
fn ac_015_a_batch_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 2);
    attacker(&path)
        .execute_batch(
            "CREATE TRIGGER refuse_five BEFORE INSERT ON records WHEN NEW.seq = 5 \
             BEGIN SELECT RAISE(ABORT, 'planted failure'); END;",
        )
        .unwrap();
    let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
    let batch: Vec<_> = (3..=8).map(event).collect();
    assert!(log.append_batch(&batch).is_err());
    drop(log);
    let seqs: Vec<i64> = attacker(&path)
        .prepare("SELECT seq FROM records ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        seqs,
        [1, 2],
        "records 3 and 4 of the failed batch are gone too"
    );
    assert!(verify(&path).is_ok());
    attacker(&path)
        .execute_batch("DROP TRIGGER refuse_five;")
        .unwrap();
    let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
    log.append_batch(&batch).unwrap();
    drop(log);
    let report = verify(&path);
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.records_checked, 8);
}

/// AC-004: no error or failure carries key material or MACs: every message
/// a tampered log or a wrong secret produces, and the `Debug` of secrets
/// and signers, is free of the secret, the derived keys and every stored
/// MAC.
#[test]
fn ac_004_messages_carry_no_keys_or_macs() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 6);
    let conn = attacker(&path);
    let macs: Vec<String> = conn
        .prepare("SELECT hex(mac), hex(prev_mac) FROM records")
        .unwrap()
        .query_map([], |r| Ok([r.get::<_, String>(0)?, r.get::<_, String>(1)?]))
        .unwrap()
        .flat_map(Result::unwrap)
        .map(|h| h.to_lowercase())
        .collect();
    conn.execute("UPDATE records SET event = '{}' WHERE seq = 6", [])
        .unwrap();
    drop(conn);
    let mut messages = Vec::new();
    messages.push(
        AuditLog::open(&path, WORKER, &secret())
            .unwrap_err()
            .to_string(),
    );
    // Reports name the record and the reason (a report's `head_mac` is
    // public data, as in the file and the export; its failure is not).
    let report = verify(&path);
    messages.push(format!("{:?}", report.failure));
    messages.push(report.failure.map(|f| f.to_string()).unwrap_or_default());
    let other = seal_crypto::WorkerSecret::new(&[0x77; 32]).unwrap();
    let report = verify_log(&path, WORKER, &other, None).unwrap();
    messages.push(report.failure.map(|f| f.to_string()).unwrap_or_default());
    messages.push(
        AuditLog::open(&path, WORKER, &other)
            .map(|_| ())
            .unwrap_err()
            .to_string(),
    );
    let signer = CheckpointSigner::derive(&secret()).unwrap();
    messages.push(format!("{signer:?}"));
    messages.push(format!("{:?}", secret()));
    let keys = [
        hex(&[0x11; 32]),
        hex(&secret()
            .derive_bytes(seal_crypto::context::AUDIT_CHAIN)
            .unwrap()[..]),
        hex(&secret()
            .derive_bytes(seal_crypto::context::AUDIT_CHECKPOINT)
            .unwrap()[..]),
    ];
    for message in &messages {
        let lower = message.to_lowercase();
        for secret_hex in keys.iter().chain(&macs) {
            assert!(
                !lower.contains(&secret_hex[..16]),
                "a message shows key or MAC bytes: {message}"
            );
        }
        assert!(!message.contains("17, 17, 17"), "{message}");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// AC-042, AC-051: checkpoints and retention together. A checkpoint whose
/// head record retention dropped (the anchor now at a later record) still
/// verifies, compared only where the log can; a checkpoint signed after
/// retention counts fewer records than its head's seq and verifies too.
#[test]
fn ac_042_ac_051_checkpoints_across_retention_verify() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 5);
    let signer = CheckpointSigner::derive(&secret()).unwrap();
    let key = signer.public_key();
    let early = AuditLog::open_read(&path, WORKER, &secret())
        .unwrap()
        .checkpoint(&signer)
        .unwrap();
    assert_eq!((early.last_seq, early.record_count), (5, 5));
    let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
    log.append_batch(&(6..=20).map(event).collect::<Vec<_>>())
        .unwrap();
    log.apply_retention(&RetentionPolicy::default().with_max_records(10))
        .unwrap();
    drop(log);
    let log = AuditLog::open_read(&path, WORKER, &secret()).unwrap();
    let report = log.verify_against_checkpoint(&early, &key).unwrap();
    assert!(report.is_ok(), "{report:?}");
    let late = log.checkpoint(&signer).unwrap();
    // 20 records and retention's own, 10 of the first dropped.
    assert_eq!((late.last_seq, late.record_count), (21, 11));
    let report = log.verify_against_checkpoint(&late, &key).unwrap();
    assert!(report.is_ok(), "{report:?}");
}

/// AC-042: checkpoint JSON up to `MAX_CHECKPOINT_JSON_BYTES` is read (and
/// refused for what it says), one byte more is refused unread.
#[test]
fn ac_042_checkpoint_json_length_limit() {
    let max = audit_core::MAX_CHECKPOINT_JSON_BYTES;
    let at_limit = format!("{{{}}}", " ".repeat(max - 2));
    assert_eq!(at_limit.len(), max);
    let e = audit_core::Checkpoint::from_json(&at_limit).unwrap_err();
    assert!(!e.to_string().contains("more than the"), "{e}");
    let over = format!("{{{}}}", " ".repeat(max - 1));
    let e = audit_core::Checkpoint::from_json(&over).unwrap_err();
    assert!(e.to_string().contains("more than the"), "{e}");
}

/// A log of 20 records, 1..=10 written 40 days ago, 11..=20 now.
fn aged_log(dir: &std::path::Path, name: &str) -> AuditLog {
    let mut log = AuditLog::open(dir.join(name), WORKER, &secret()).unwrap();
    let now = chrono::Utc::now();
    let old: Vec<_> = (1..=10)
        .map(|i| event(i).with_timestamp(now - chrono::Duration::days(40)))
        .collect();
    log.append_batch(&old).unwrap();
    log.append_batch(&(11..=20).map(event).collect::<Vec<_>>())
        .unwrap();
    log
}

/// The seqs left, and the `AuditRetention` record's fields.
fn after_retention(log: &AuditLog) -> (Vec<u64>, serde_json::Value) {
    let records = log.query(&audit_core::QueryFilter::default()).unwrap();
    let retention = records
        .iter()
        .rev()
        .find(|r| r.kind == "AuditRetention")
        .map_or(serde_json::Value::Null, |r| r.event.clone());
    (records.iter().map(|r| r.seq).collect(), retention)
}

/// AC-050, AC-051: each policy drops exactly what it says, the strictest
/// wins and is the one named, the newest record stays, the anchor counts
/// what its run dropped, and a policy that finds nothing drops nothing.
#[test]
fn ac_051_each_policy_drops_exactly_what_it_says() {
    let dir = tempfile::tempdir().unwrap();
    let expect = |log: &AuditLog, kept_from: u64, through: u64, rule: &str| {
        let (seqs, retention) = after_retention(log);
        assert_eq!(seqs, (kept_from..=21).collect::<Vec<_>>(), "{rule}");
        assert_eq!(retention["dropped_through_seq"], through, "{rule}");
        assert_eq!(retention["dropped_records"], through, "{rule}");
        assert_eq!(retention["rule"], rule);
        assert!(log.verify(None).unwrap().is_ok(), "{rule}");
    };
    let none = |log: &mut AuditLog, policy: RetentionPolicy| {
        let report = log.apply_retention(&policy).unwrap();
        assert_eq!(report, audit_core::RetentionReport::default(), "{policy:?}");
        assert_eq!(log.record_count().unwrap(), 20, "{policy:?}");
    };

    // Nothing old, fewer records than the limit, fewer bytes: nothing.
    let mut log = aged_log(dir.path(), "none.db");
    none(&mut log, RetentionPolicy::max_age_days(50));
    none(&mut log, RetentionPolicy::default().with_max_records(20));
    none(
        &mut log,
        RetentionPolicy::default().with_max_bytes(u64::MAX),
    );
    none(&mut log, RetentionPolicy::default());

    // By count: one record exactly, then five.
    let mut log = aged_log(dir.path(), "count.db");
    let report = log
        .apply_retention(&RetentionPolicy::default().with_max_records(19))
        .unwrap();
    assert_eq!(
        report,
        audit_core::RetentionReport {
            dropped: 1,
            anchor_seq: Some(1),
            retention_record_seq: Some(21),
        }
    );
    expect(&log, 2, 1, "max_records");

    // By age, where the count rule cuts exactly as far or less: age alone
    // is named; then a count rule stricter than age.
    let mut log = aged_log(dir.path(), "age.db");
    let policy = RetentionPolicy::max_age_days(30).with_max_records(10);
    assert_eq!(log.apply_retention(&policy).unwrap().dropped, 10);
    expect(&log, 11, 10, "max_age");
    let mut log = aged_log(dir.path(), "stricter.db");
    let policy = RetentionPolicy::max_age_days(30).with_max_records(8);
    assert_eq!(log.apply_retention(&policy).unwrap().dropped, 12);
    expect(&log, 13, 12, "max_age,max_records");
    // Rules that find nothing are not named.
    let mut log = aged_log(dir.path(), "named.db");
    let policy = RetentionPolicy::max_age_days(50)
        .with_max_records(15)
        .with_max_bytes(u64::MAX);
    assert_eq!(log.apply_retention(&policy).unwrap().dropped, 5);
    expect(&log, 6, 5, "max_records");

    // Everything is too old or too many: the newest record stays.
    let mut log = aged_log(dir.path(), "all.db");
    let report = log
        .apply_retention(&RetentionPolicy::default().with_max_records(0))
        .unwrap();
    assert_eq!((report.dropped, report.anchor_seq), (19, Some(19)));
    expect(&log, 20, 19, "max_records");

    // By size: records count as their event, kind, worker id and shard id
    // plus 120 bytes; keeping exactly the newest five's size keeps five.
    let mut log = aged_log(dir.path(), "bytes.db");
    let sizes: Vec<u64> = {
        let conn = rusqlite::Connection::open(dir.path().join("bytes.db")).unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT length(event) + length(kind) + length(worker_id) + \
                 coalesce(length(shard_id), 0) + 120 FROM records ORDER BY seq DESC",
            )
            .unwrap();
        stmt.query_map([], |row| row.get::<_, i64>(0))
            .unwrap()
            .map(|size| u64::try_from(size.unwrap()).unwrap())
            .collect()
    };
    // A size rule that cuts exactly where the count rule did is not named.
    let fifteen: u64 = sizes[..15].iter().sum();
    let mut tie = aged_log(dir.path(), "tie.db");
    let policy = RetentionPolicy::default()
        .with_max_records(15)
        .with_max_bytes(fifteen);
    assert_eq!(tie.apply_retention(&policy).unwrap().dropped, 5);
    expect(&tie, 6, 5, "max_records");
    let five: u64 = sizes[..5].iter().sum();
    let report = log
        .apply_retention(&RetentionPolicy::default().with_max_bytes(five))
        .unwrap();
    assert_eq!(report.dropped, 15);
    expect(&log, 16, 15, "max_bytes");
    // One byte less keeps four; each anchor counts its own run's drops.
    let mut log = aged_log(dir.path(), "bytes2.db");
    let report = log
        .apply_retention(&RetentionPolicy::default().with_max_bytes(five - 1))
        .unwrap();
    assert_eq!(report.dropped, 16);
    let report = log
        .apply_retention(&RetentionPolicy::default().with_max_records(3))
        .unwrap();
    assert_eq!((report.dropped, report.anchor_seq), (2, Some(18)));
    let anchors: Vec<(i64, i64)> = {
        let conn = rusqlite::Connection::open(dir.path().join("bytes2.db")).unwrap();
        let mut stmt = conn
            .prepare("SELECT seq, dropped FROM anchors ORDER BY seq")
            .unwrap();
        stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(anchors, [(16, 16), (18, 2)]);
    assert!(log.verify(None).unwrap().is_ok());
}
