//! Regression tests for the outside attack review (issue "Hardening"):
//! rows the verifier never saw, readers that wrote the evidence, structural
//! tampering, empty ranges, a wrong secret called tampering, and racing
//! creators. Each test names the requirement it covers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};

use audit_core::{
    AuditError, AuditLog, CheckpointSigner, FailureReason, QueryFilter, RetentionPolicy,
    VerifyReport, verify_log, verify_log_against_checkpoint,
};
use common::mount::{Mount, fill};
use common::*;
use seal_crypto::WorkerSecret;

fn structure_detail(report: &VerifyReport) -> String {
    match failure(report) {
        (_, FailureReason::Structure { detail }) => detail,
        other => panic!("expected a structure failure, got {other:?}"),
    }
}

/// The attacker's plain SQL, on a log of `n` records whose tables were
/// first rebuilt without `STRICT` and `CHECK`s, as an attacker would.
fn tampered(dir: &Path, n: u64, sql: &str) -> PathBuf {
    let path = build(dir, "a.db", n);
    let conn = attacker(&path);
    for table in ["records", "anchors"] {
        conn.execute_batch(&format!(
            "CREATE TABLE t2 AS SELECT * FROM {table}; DROP TABLE {table}; \
             ALTER TABLE t2 RENAME TO {table};"
        ))
        .unwrap();
    }
    conn.execute_batch(sql).unwrap();
    path
}

// ---- 1. Every row is accounted for -------------------------------------

/// AC-045: rows outside the walked chain fail verification, naming the row,
/// and `checkpoint` refuses to sign them.
#[test]
fn ac_045_rows_outside_the_chain_fail_and_are_named() {
    let row = "randomblob(16), 0, 'X', 0, 'w', NULL, '{}', randomblob(32), randomblob(32)";
    let cases = [
        (format!("INSERT INTO records VALUES (-1, {row})"), "seq -1"),
        (format!("INSERT INTO records VALUES (0, {row})"), "seq 0"),
        (
            // A table rebuilt without the INTEGER PRIMARY KEY holds
            // NULL and text sequence numbers too.
            format!(
                "INSERT INTO records VALUES (NULL, {row}); \
                 INSERT INTO records VALUES ('seven', {row});"
            ),
            "seq NULL",
        ),
    ];
    for (sql, named) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = tampered(dir.path(), 6, &sql);
        let detail = structure_detail(&verify(&path));
        assert!(detail.contains(named), "{sql}: {detail}");
        assert!(detail.contains("outside the chain"), "{detail}");
        let log = AuditLog::open_read(&path, WORKER, &secret()).unwrap();
        let signer = CheckpointSigner::derive(&secret()).unwrap();
        assert!(
            matches!(log.checkpoint(&signer), Err(AuditError::Checkpoint { .. })),
            "{sql}: a checkpoint was signed over a stray row"
        );
        // The same holds for a range check, which must not skip strays.
        let ranged = verify_log(&path, WORKER, &secret(), Some(2..=4)).unwrap();
        assert!(structure_detail(&ranged).contains(named));
    }
}

/// AC-045: a column of the wrong storage class or size is a malformed
/// record, named by column, even where the bytes would MAC the same.
#[test]
fn ac_045_columns_of_the_wrong_storage_class_are_malformed() {
    let cases = [
        (
            "UPDATE records SET mac = hex(mac) WHERE seq = 3",
            "column mac holds text",
        ),
        (
            "UPDATE records SET id = hex(id) WHERE seq = 3",
            "column id holds text",
        ),
        (
            "UPDATE records SET prev_mac = X'00' WHERE seq = 3",
            "column prev_mac holds a 1-byte blob",
        ),
        (
            "UPDATE records SET ts_ns = 'soon' WHERE seq = 3",
            "column ts_ns holds text",
        ),
        (
            "UPDATE records SET kind = CAST(kind AS BLOB) WHERE seq = 3",
            "column kind holds a",
        ),
        (
            "UPDATE records SET severity = 1.5 WHERE seq = 3",
            "column severity holds real",
        ),
    ];
    for (sql, named) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = tampered(dir.path(), 6, sql);
        match failure(&verify(&path)) {
            (Some(3), FailureReason::Malformed { detail }) => {
                assert!(detail.contains(named), "{sql}: {detail}");
            }
            other => panic!("{sql}: {other:?}"),
        }
    }
}

/// AC-045: unexpected, missing, duplicated or malformed `meta` and
/// `anchors` rows fail, naming the row.
#[test]
fn ac_045_meta_and_anchor_rows_are_checked_one_by_one() {
    let cases = [
        (
            "DROP TRIGGER meta_no_insert; INSERT INTO meta VALUES ('owner', 'mallory')",
            "unexpected row \"owner\"",
        ),
        (
            "DROP TRIGGER meta_no_delete; DELETE FROM meta WHERE key = 'created_ns'",
            "no row \"created_ns\"",
        ),
        (
            "DROP TRIGGER meta_no_update; UPDATE meta SET value = 'worker-z' WHERE key = 'worker_id'",
            "\"worker_id\" holds \"worker-z\"",
        ),
        (
            // An integer, so only the comparison with the header's
            // user_version can see it.
            "DROP TRIGGER meta_no_update; UPDATE meta SET value = '2' WHERE key = 'schema_version'",
            "\"schema_version\" holds \"2\"",
        ),
        (
            "DROP TRIGGER meta_no_update; UPDATE meta SET value = 'soon' WHERE key = 'created_ns'",
            "\"created_ns\" holds \"soon\"",
        ),
        (
            "INSERT INTO anchors VALUES ('x', randomblob(32), 1, 0, randomblob(32))",
            "anchors row with seq 'x': column seq holds text",
        ),
        (
            "INSERT INTO anchors VALUES (0, randomblob(32), 1, 0, randomblob(32))",
            "anchors row with seq 0: a sequence number starts at 1",
        ),
        (
            "INSERT INTO anchors VALUES (-3, randomblob(32), 1, 0, randomblob(32))",
            "anchors row with seq -3: a sequence number starts at 1",
        ),
    ];
    for (sql, named) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = tampered(dir.path(), 4, sql);
        let detail = structure_detail(&verify(&path));
        assert!(detail.contains(named), "{sql}: {detail}");
    }
    // An anchor planted at a real record with a forged MAC is not authentic.
    let dir = tempfile::tempdir().unwrap();
    let path = tampered(
        dir.path(),
        4,
        "INSERT INTO anchors SELECT 2, mac, 2, 0, randomblob(32) FROM records WHERE seq = 2",
    );
    let report = verify(&path);
    assert!(
        matches!(
            failure(&report),
            (
                _,
                FailureReason::BadAnchor | FailureReason::SequenceGap { .. }
            )
        ),
        "{report:?}"
    );
}

/// AC-012: the triggers refuse inserts into `meta` and into `anchors`
/// outside retention, and records out of sequence.
#[test]
fn ac_012_triggers_refuse_inserts_outside_the_sanctioned_paths() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 3);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let refused = |sql: &str| {
        let err = conn.execute_batch(sql).unwrap_err().to_string();
        assert!(err.contains("refused"), "{sql}: {err}");
    };
    refused("INSERT INTO meta VALUES ('owner', 'x')");
    refused("INSERT INTO anchors VALUES (2, randomblob(32), 2, 0, randomblob(32))");
    refused(
        "INSERT INTO records VALUES (-1, randomblob(16), 0, 'X', 0, 'w', NULL, '{}', randomblob(32), randomblob(32))",
    );
    refused(
        "INSERT INTO records VALUES (9, randomblob(16), 0, 'X', 0, 'w', NULL, '{}', randomblob(32), randomblob(32))",
    );
    drop(conn);
    // Retention, the sanctioned path, still writes its anchor.
    let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
    let report = log
        .apply_retention(&RetentionPolicy::default().with_max_records(1))
        .unwrap();
    assert_eq!(report.anchor_seq, Some(2));
    assert!(verify(&path).is_ok());
}

/// AC-050: from schema version 2 the anchor MAC covers `dropped` and
/// `ts_ns` as well: editing either is a bad anchor.
#[test]
fn ac_050_every_anchor_column_is_authenticated() {
    for column in ["dropped", "ts_ns"] {
        let dir = tempfile::tempdir().unwrap();
        let path = build(dir.path(), "a.db", 6);
        let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
        log.apply_retention(&RetentionPolicy::default().with_max_records(2))
            .unwrap();
        drop(log);
        assert!(verify(&path).is_ok());
        attacker(&path)
            .execute_batch(&format!(
                "DROP TRIGGER anchors_no_update; UPDATE anchors SET {column} = {column} + 1"
            ))
            .unwrap();
        assert_eq!(
            failure(&verify(&path)),
            (Some(4), FailureReason::BadAnchor),
            "{column}"
        );
    }
}

// ---- 2. Readers never write ----------------------------------------------

fn file_bytes(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Runs every reader on `path`: verify (whole, range, split), open_read +
/// query, export, checkpoint, verify against a checkpoint.
fn run_every_reader(path: &Path, records: u64) {
    let report = verify(path);
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.records_checked, records);
    assert!(
        verify_log(path, WORKER, &secret(), Some(1..=2))
            .unwrap()
            .is_ok()
    );
    let split = audit_core::verify_log_split(path, WORKER, &secret(), None, 4, 0).unwrap();
    assert_eq!(split.records_checked, records);
    let log = AuditLog::open_read(path, WORKER, &secret()).unwrap();
    assert_eq!(
        log.query(&QueryFilter::default()).unwrap().len() as u64,
        records
    );
    let mut out = Vec::new();
    assert_eq!(log.export_ndjson(None, &mut out).unwrap(), records);
    let signer = CheckpointSigner::derive(&secret()).unwrap();
    let checkpoint = log.checkpoint(&signer).unwrap();
    assert_eq!(checkpoint.last_seq, records);
    assert_eq!(checkpoint.record_count, records);
    let against =
        verify_log_against_checkpoint(path, WORKER, &secret(), &checkpoint, &signer.public_key())
            .unwrap();
    assert!(against.is_ok(), "{against:?}");
}

/// AC-017: with a writer still holding the log (its newest records only
/// in `-wal`), every reader sees those records and leaves the database and
/// its `-wal` byte for byte as they were, creating no file.
#[test]
fn ac_017_readers_leave_the_database_and_its_wal_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.db");
    let mut writer = AuditLog::open(&path, WORKER, &secret()).unwrap();
    let events: Vec<_> = (1..=40).map(event).collect();
    writer.append_batch(&events).unwrap();
    let wal = sidecar(&path, "-wal");
    let shm = sidecar(&path, "-shm");
    let before = (file_bytes(&path), file_bytes(&wal));
    assert!(
        before.1.as_ref().is_some_and(|w| !w.is_empty()),
        "no -wal to protect"
    );
    // Without the writer's -shm, SQLite itself would have to create one.
    let shm_bytes = file_bytes(&shm);
    std::fs::remove_file(&shm).unwrap();
    run_every_reader(&path, 40);
    assert_eq!((file_bytes(&path), file_bytes(&wal)), before);
    assert!(!shm.exists(), "a reader created -shm");
    std::fs::write(&shm, shm_bytes.unwrap()).unwrap();
    // After the writer closes (WAL merged and removed): immutable open.
    drop(writer);
    assert!(!wal.exists());
    let before = file_bytes(&path);
    run_every_reader(&path, 40);
    assert_eq!(file_bytes(&path), before);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("live.db")]);
}

/// AC-017: every reader works on a read-only mount and on a full disk,
/// with and without a `-wal`, and changes nothing.
#[test]
fn ac_017_readers_work_on_read_only_media_and_full_disks() {
    for with_wal in [false, true] {
        for read_only in [true, false] {
            let Some(mount) = Mount::tmpfs("8m") else {
                return;
            };
            let path = mount.path().join("a.db");
            let mut writer = AuditLog::open(&path, WORKER, &secret()).unwrap();
            let events: Vec<_> = (1..=30).map(event).collect();
            writer.append_batch(&events).unwrap();
            if with_wal {
                // Keep the -wal as a crashed writer leaves it: copy the
                // files while the writer holds them.
                let copy = mount.path().join("copy.db");
                std::fs::copy(&path, &copy).unwrap();
                std::fs::copy(sidecar(&path, "-wal"), sidecar(&copy, "-wal")).unwrap();
                drop(writer);
                std::fs::remove_file(&path).unwrap();
                std::fs::rename(&copy, &path).unwrap();
                std::fs::rename(sidecar(&copy, "-wal"), sidecar(&path, "-wal")).unwrap();
            } else {
                drop(writer);
            }
            if read_only {
                mount.remount_read_only();
            } else {
                fill(mount.path());
            }
            let before = (file_bytes(&path), file_bytes(&sidecar(&path, "-wal")));
            run_every_reader(&path, 30);
            assert_eq!(
                (file_bytes(&path), file_bytes(&sidecar(&path, "-wal"))),
                before,
                "wal {with_wal}, read-only {read_only}"
            );
        }
    }
}

// ---- 3. Structural tampering is a failed check, never success ------------

/// AC-048: a file that is not an audit log is `NotAnAuditLog` (a usage
/// error) without a checkpoint, and a failed check against one; a
/// recognisable log with a table or its header changed is a failed check.
#[test]
fn ac_048_structural_tampering_is_a_failed_check() {
    let signer = CheckpointSigner::derive(&secret()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 5);
    let checkpoint = AuditLog::open_read(&path, WORKER, &secret())
        .unwrap()
        .checkpoint(&signer)
        .unwrap();
    let against = |path: &Path| {
        verify_log_against_checkpoint(path, WORKER, &secret(), &checkpoint, &signer.public_key())
    };
    // Not a log at all.
    type Damage<'a> = (&'a str, &'a dyn Fn(&Path));
    let not_logs: [Damage<'_>; 3] = [
        ("emptied to 0 bytes", &|p: &Path| {
            std::fs::write(p, b"").unwrap()
        }),
        ("header zeroed", &|p: &Path| {
            let mut bytes = std::fs::read(p).unwrap();
            bytes[..100].fill(0);
            std::fs::write(p, bytes).unwrap();
        }),
        ("replaced by text", &|p: &Path| {
            std::fs::write(p, b"hello\n").unwrap()
        }),
    ];
    for (what, damage) in not_logs {
        let path = build(dir.path(), &format!("{what}.db"), 5);
        damage(&path);
        assert!(
            matches!(
                verify_log(&path, WORKER, &secret(), None),
                Err(AuditError::NotAnAuditLog { .. })
            ),
            "{what}"
        );
        let detail = structure_detail(&against(&path).unwrap());
        assert!(
            detail.contains("no longer an audit log"),
            "{what}: {detail}"
        );
    }
    // Recognisably a log, with part of it removed or changed.
    let broken = [
        ("DROP TABLE records", "table records is missing"),
        ("DROP TABLE anchors", "table anchors is missing"),
        ("DROP TABLE meta", "table meta is missing"),
        (
            "CREATE TABLE r2 AS SELECT seq, id, ts_ns, kind, severity, worker_id, shard_id, event, prev_mac FROM records; \
             DROP TABLE records; ALTER TABLE r2 RENAME TO records;",
            "table records has no column mac",
        ),
        ("PRAGMA application_id = 0", "application id is 0x0"),
    ];
    for (index, (sql, named)) in broken.into_iter().enumerate() {
        let path = build(dir.path(), &format!("broken-{index}.db"), 5);
        attacker(&path).execute_batch(sql).unwrap();
        let detail = structure_detail(&verify(&path));
        assert!(detail.contains(named), "{sql}: {detail}");
        let detail = structure_detail(&against(&path).unwrap());
        assert!(detail.contains(named), "{sql}: {detail}");
        assert!(matches!(
            AuditLog::open_read(&path, WORKER, &secret()),
            Err(AuditError::Damaged { .. })
        ));
    }
    // A missing file stays a usage error: the path is wrong.
    assert!(matches!(
        against(&dir.path().join("nothing.db")),
        Err(AuditError::NotFound { .. })
    ));
}

// ---- 5. A wrong secret is named as such ----------------------------------

/// AC-038: on a log longer than the writer's tail check, a wrong secret
/// or worker id is `WrongGenesis` for every range and `WrongSecret` for a
/// writer, never a MAC mismatch that reads as tampering.
#[test]
fn ac_038_a_wrong_secret_on_a_long_log_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "long.db", 2_000);
    let wrong = WorkerSecret::new(&[0x77; 32]).unwrap();
    for range in [
        None,
        Some(1..=2_000),
        Some(1_500..=1_600),
        Some(1_990..=2_000),
    ] {
        let report = verify_log(&path, WORKER, &wrong, range.clone()).unwrap();
        assert_eq!(
            failure(&report),
            (Some(1), FailureReason::WrongGenesis),
            "{range:?}"
        );
    }
    assert_eq!(
        AuditLog::open(&path, WORKER, &wrong).unwrap_err(),
        AuditError::WrongSecret {
            worker_id: WORKER.to_owned()
        }
    );
    // After retention the start is the anchor: the same holds.
    let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
    log.apply_retention(&RetentionPolicy::default().with_max_records(1_200))
        .unwrap();
    drop(log);
    let report = verify_log(&path, WORKER, &wrong, Some(1_900..=2_000)).unwrap();
    assert!(
        matches!(failure(&report), (_, FailureReason::WrongGenesis)),
        "{report:?}"
    );
    assert!(matches!(
        AuditLog::open(&path, WORKER, &wrong),
        Err(AuditError::WrongSecret { .. })
    ));
}

// ---- 6. Creating a log races nothing -------------------------------------

/// AC-016: many connections creating the same new log at once make one
/// log; none fails.
#[test]
fn ac_016_concurrent_creation_of_one_log_never_fails() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        let barrier = std::sync::Barrier::new(4);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    barrier.wait();
                    let mut log = AuditLog::open(&path, WORKER, &secret())
                        .unwrap_or_else(|e| panic!("round {round}: {e}"));
                    log.append(&event(1)).unwrap();
                });
            }
        });
        let report = verify(&path);
        assert!(report.is_ok(), "{report:?}");
        assert_eq!(report.records_checked, 4);
    }
}

// ---- 7. A full disk: the loss is recorded, never only promised ------------

fn kinds(path: &Path) -> Vec<String> {
    AuditLog::open_read(path, WORKER, &secret())
        .unwrap()
        .query(&QueryFilter::default())
        .unwrap()
        .into_iter()
        .map(|r| r.kind)
        .collect()
}

/// A writer on a 6 MiB tmpfs (`None` where mounts are skipped knowingly)
/// that has written and flushed ten events: the mount, the log, its
/// reserve file and the writer.
fn writer_on_a_small_disk() -> Option<(
    Mount,
    std::path::PathBuf,
    std::path::PathBuf,
    audit_core::AuditWriter,
)> {
    let mount = Mount::tmpfs("6m")?;
    let path = mount.path().join("audit.db");
    let reserve = sidecar(&path, "-reserve");
    let writer = audit_core::AuditWriter::open(
        &path,
        WORKER,
        &secret(),
        audit_core::WriterConfig::default(),
    )
    .unwrap();
    for i in 1..=10 {
        writer.emit(event(i));
    }
    writer.flush_blocking().unwrap();
    Some((mount, path, reserve, writer))
}

/// AC-027: on a real full filesystem (a tmpfs), the writer releases its
/// reserve and still writes the batch; when even that is not enough the
/// batch is lost, counted, and recorded as an `AuditGap` by the next write
/// once space returns; a loss no write could record is reported by
/// `shutdown`, not promised.
#[test]
fn ac_027_a_full_disk_loses_nothing_silently() {
    use audit_core::{AuditWriter, DISK_RESERVE_BYTES, WriterConfig};
    let Some((mount, path, reserve, writer)) = writer_on_a_small_disk() else {
        return;
    };
    assert_eq!(
        std::fs::metadata(&reserve).unwrap().len(),
        DISK_RESERVE_BYTES
    );

    // Full: the reserve is given up and the batch still lands.
    fill(mount.path());
    for i in 11..=20 {
        writer.emit(event(i));
    }
    writer.flush_blocking().unwrap();
    assert!(!reserve.exists(), "the reserve was not released");
    assert_eq!(writer.stats().write_failed, 0);

    // Full again with no reserve left: the batch is lost and counted.
    fill(mount.path());
    let mut failed = None;
    for i in 21..=400 {
        writer.emit(event(i));
        if let Err(e) = writer.flush_blocking() {
            failed = Some(e);
            break;
        }
    }
    let Some(AuditError::WriteFailed { lost, .. }) = failed else {
        panic!("no write failed on a full disk: {failed:?}");
    };
    assert!(lost >= 1);

    // Space returns: the next write records the loss first.
    std::fs::remove_file(mount.path().join("filler")).unwrap();
    writer.emit(event(999));
    writer.flush_blocking().unwrap();
    let stats = writer.shutdown_blocking().unwrap();
    assert_eq!(stats.gaps_recorded, 1);
    let kinds = kinds(&path);
    let gap = kinds
        .iter()
        .position(|k| k == "AuditGap")
        .expect("an AuditGap");
    assert_eq!(kinds.last().map(String::as_str), Some("TestEvent"));
    assert!(gap >= 20, "{kinds:?}");
    let log = AuditLog::open_read(&path, WORKER, &secret()).unwrap();
    let gaps = log.query(&QueryFilter::default().kind("AuditGap")).unwrap();
    assert_eq!(gaps[0].event["lost"], serde_json::json!(lost));
    assert!(verify(&path).is_ok());

    // A loss that no later write can record is reported by shutdown.
    let writer = AuditWriter::open(&path, WORKER, &secret(), WriterConfig::default()).unwrap();
    std::fs::remove_file(&reserve).ok();
    fill(mount.path());
    let mut lost_any = false;
    for i in 1000..=1400 {
        writer.emit(event(i));
        if writer.flush_blocking().is_err() {
            lost_any = true;
            break;
        }
    }
    assert!(lost_any, "no write failed on a full disk");
    // Whatever shutdown says is true: either the loss reached the log as
    // AuditGap records, or shutdown reports it as unrecorded.
    let first_lost = lost;
    let outcome = writer.shutdown_blocking();
    std::fs::remove_file(mount.path().join("filler")).unwrap();
    let log = AuditLog::open_read(&path, WORKER, &secret()).unwrap();
    let recorded: u64 = log
        .query(&QueryFilter::default().kind("AuditGap"))
        .unwrap()
        .iter()
        .map(|r| r.event["lost"].as_u64().unwrap())
        .sum();
    match outcome {
        Ok(stats) => assert_eq!(recorded, first_lost + stats.write_failed),
        Err(AuditError::WriteFailed { lost, .. }) => assert!(lost > 0 && recorded == first_lost),
        Err(other) => panic!("{other}"),
    }
    assert!(verify(&path).is_ok());
}

/// AC-027: a loss that no later write can record (every write fails until
/// the writer stops) is reported by `shutdown`, never promised.
#[test]
fn ac_027_shutdown_reports_a_loss_it_could_not_record() {
    use audit_core::{AuditWriter, WriterConfig};
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 2);
    let writer = AuditWriter::open(&path, WORKER, &secret(), WriterConfig::default()).unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER fail_me BEFORE INSERT ON records \
             BEGIN SELECT RAISE(ABORT, 'injected write failure'); END;",
        )
        .unwrap();
    writer.emit(event(3));
    assert!(matches!(
        writer.flush_blocking(),
        Err(AuditError::WriteFailed { lost: 1, .. })
    ));
    writer.emit(event(4));
    assert!(matches!(
        writer.shutdown_blocking(),
        Err(AuditError::WriteFailed { lost: 2, .. })
    ));
}

/// AC-027: a writer opened on a full filesystem spends the reserve its
/// log holds (opening needs room for SQLite's `-wal` and `-shm`) and
/// opens; the records written before are all there.
#[test]
fn ac_027_opening_on_a_full_disk_spends_the_reserve() {
    use audit_core::{AuditWriter, WriterConfig};
    let Some((mount, path, reserve, writer)) = writer_on_a_small_disk() else {
        return;
    };
    writer.shutdown_blocking().unwrap();
    assert!(reserve.exists());
    fill(mount.path());
    let writer = AuditWriter::open(&path, WORKER, &secret(), WriterConfig::default()).unwrap();
    assert!(!reserve.exists(), "the reserve was not spent");
    writer.shutdown_blocking().unwrap();
    std::fs::remove_file(mount.path().join("filler")).unwrap();
    assert_eq!(kinds(&path).len(), 10);
}
