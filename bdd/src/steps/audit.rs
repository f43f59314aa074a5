//! Steps of `audit.feature`: event contents, and an attacker with write
//! access to the SQLite file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use audit_core::{
    AuditError, AuditEvent, AuditLog, CheckpointSigner, FailureReason, verify_log,
    verify_log_against_checkpoint,
};
use cucumber::{given, then, when};
use rusqlite::{Connection, OptionalExtension};
use vram_residency::{SealOptions, VerifyMode};

use crate::world::{OTHER_SECRET, ResidencyWorld, SECRET, WorkerSpec, parse_size};

fn record_of<'a>(
    records: &'a [audit_core::AuditRecord],
    kind: &str,
    shard: Option<&str>,
) -> &'a audit_core::AuditRecord {
    let found: Vec<_> = records
        .iter()
        .filter(|r| r.kind == kind && (shard.is_none() || r.shard_id.as_deref() == shard))
        .collect();
    assert_eq!(found.len(), 1, "expected one {kind} event for {shard:?}");
    found[0]
}

#[then(
    regex = r#"^the VramSealed event for "([^"]*)" records device (\d+), (\d+ (?:MiB|KiB|bytes?)) and the digest of the weights$"#
)]
fn sealed_event(world: &mut ResidencyWorld, id: String, device: u32, size: String) {
    let records = world.records();
    let event = &record_of(&records, "VramSealed", Some(&id)).event;
    assert_eq!(event["shard_id"], id.as_str(), "{event}");
    assert_eq!(event["device"], device, "{event}");
    assert_eq!(event["bytes"], parse_size(&size), "{event}");
    assert_eq!(
        event["digest"],
        world.sealed_digests[&id].to_string().as_str(),
        "{event}"
    );
}

#[then(
    regex = r#"^the VramAllocated event for "([^"]*)" records (\d+ (?:MiB|KiB|bytes?)) requested and allocated, and (\d+ (?:MiB|KiB|bytes?)) in use after$"#
)]
fn allocated_event(world: &mut ResidencyWorld, id: String, size: String, used: String) {
    let records = world.records();
    let event = &record_of(&records, "VramAllocated", Some(&id)).event;
    assert_eq!(event["shard_id"], id.as_str(), "{event}");
    assert_eq!(event["requested"], parse_size(&size), "{event}");
    assert_eq!(event["allocated"], parse_size(&size), "{event}");
    assert_eq!(event["used_after"], parse_size(&used), "{event}");
    assert_eq!(event["device"], 0, "{event}");
    assert!(event["available_before"].is_u64(), "{event}");
}

#[then(
    regex = r#"^the VramDeallocated event for "([^"]*)" records (\d+ (?:MiB|KiB|bytes?)) freed and (\d+ (?:MiB|KiB|bytes?)) still in use$"#
)]
fn deallocated_event(world: &mut ResidencyWorld, id: String, freed: String, still: String) {
    let records = world.records();
    let event = &record_of(&records, "VramDeallocated", Some(&id)).event;
    assert_eq!(event["freed"], parse_size(&freed), "{event}");
    assert_eq!(event["still_used"], parse_size(&still), "{event}");
    assert_eq!(event["device"], 0, "{event}");
}

#[then(
    regex = r"^the VramAllocationFailed event records (\d+ (?:MiB|KiB|bytes?)) requested and (\d+ (?:MiB|KiB|bytes?)) available$"
)]
fn allocation_failed_event(world: &mut ResidencyWorld, size: String, available: String) {
    let records = world.records();
    let event = &record_of(&records, "VramAllocationFailed", None).event;
    assert_eq!(event["requested"], parse_size(&size), "{event}");
    assert_eq!(event["available"], parse_size(&available), "{event}");
    assert!(
        event["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{event}"
    );
}

#[then(regex = r#"^querying the audit log for shard "([^"]*)" gives these events:$"#)]
fn query_by_shard(world: &mut ResidencyWorld, id: String, step: &cucumber::gherkin::Step) {
    let table = step.table.as_ref().expect("a table of events");
    let expected: Vec<&str> = table.rows[1..].iter().map(|r| r[0].as_str()).collect();
    world.flush();
    let worker = world.worker();
    let log = AuditLog::open_read(&worker.db, &worker.id, &worker.secret).expect("open the log");
    let records = log
        .query(&audit_core::QueryFilter::default().shard_id(&id))
        .expect("query by shard");
    let kinds: Vec<&str> = records.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds, expected, "records of shard {id:?}");
    for record in &records {
        assert_eq!(record.shard_id.as_deref(), Some(id.as_str()), "{record:?}");
    }
}

#[then(
    regex = r#"^the SealVerificationFailed event for "([^"]*)" is in the audit log before any flush$"#
)]
fn failure_durable(world: &mut ResidencyWorld, id: String) {
    // No flush here: the event must already be in the database.
    let records = world.records_now();
    assert!(
        records
            .iter()
            .any(|r| r.kind == "SealVerificationFailed" && r.shard_id.as_deref() == Some(&id)),
        "not yet in the database: {:?}",
        records.iter().map(|r| &r.kind).collect::<Vec<_>>()
    );
}

#[given(regex = r#"^a worker that has sealed, verified and freed "([^"]*)" and shut down$"#)]
fn worked_and_shut_down(world: &mut ResidencyWorld, id: String) {
    let worker = world.start(&WorkerSpec::first());
    world.worker = Some(worker);
    world.seal(&id, 1 << 20, SealOptions::default());
    world.verify(&id, &VerifyMode::Full);
    assert!(matches!(world.last.verify, Some(Ok(_))));
    world.worker_mut().shut_down();
    let kinds: Vec<String> = world.records_now().into_iter().map(|r| r.kind).collect();
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

/// Opens the log file as an attacker would: plain SQLite, with the
/// append-only triggers dropped first.
pub(crate) fn attacker_connection(db: &Path) -> Connection {
    let conn = Connection::open(db).expect("open the database");
    conn.execute_batch(
        "DROP TRIGGER IF EXISTS records_no_update; DROP TRIGGER IF EXISTS records_no_delete; \
         DROP TRIGGER IF EXISTS records_append_only; \
         DROP TRIGGER IF EXISTS anchors_only_retention; DROP TRIGGER IF EXISTS tree_no_delete; \
         PRAGMA ignore_check_constraints = ON;",
    )
    .expect("drop the append-only triggers");
    conn
}

/// Cuts the Merkle tree back to the records left, as an attacker who knows
/// its layout would after cutting records off the end (a cut of the
/// records alone is caught by the tree).
pub(crate) fn cut_tree_to_records(conn: &Connection) {
    let head: i64 = conn
        .query_row("SELECT COALESCE(MAX(seq), 0) FROM records", [], |r| {
            r.get(0)
        })
        .expect("read the head");
    let keep =
        audit_core::tlog::stored_hash_count(u64::try_from(head).unwrap_or(0)).expect("a tree size");
    let keep = i64::try_from(keep).unwrap_or(i64::MAX);
    // The tree is stored in blocks (one row per batch): the blocks past
    // `keep` go, and the one straddling it comes back with its kept prefix.
    let straddling: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT first, hashes FROM tree WHERE first < ?1 AND first + length(hashes) / 32 > ?1",
            [keep],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .expect("read the straddling block");
    conn.execute(
        "DELETE FROM tree WHERE first + length(hashes) / 32 > ?1",
        [keep],
    )
    .expect("cut the tree");
    if let Some((first, hashes)) = straddling {
        let kept = usize::try_from(keep - first).unwrap_or(0) * 32;
        conn.execute(
            "INSERT INTO tree (first, hashes) VALUES (?1, ?2)",
            rusqlite::params![first, hashes.get(..kept).expect("a prefix of the block")],
        )
        .expect("re-insert the kept prefix");
    }
}

pub(crate) fn db(world: &ResidencyWorld) -> std::path::PathBuf {
    let worker = world.worker();
    assert!(
        worker.writer.is_none(),
        "shut the worker down before editing its log"
    );
    worker.db.clone()
}

#[when(regex = r"^an attacker edits record (\d+) of the audit log$")]
fn edits(world: &mut ResidencyWorld, seq: i64) {
    let conn = attacker_connection(&db(world));
    let event: String = conn
        .query_row("SELECT event FROM records WHERE seq = ?1", [seq], |r| {
            r.get(0)
        })
        .expect("the record exists");
    let mut value: serde_json::Value = serde_json::from_str(&event).unwrap();
    // Hide which weights were sealed, or pretend another device.
    if value.get("digest").is_some() {
        value["digest"] = seal_crypto::sha256(b"the attacker's weights")
            .to_string()
            .into();
    } else {
        value["device"] = 7.into();
    }
    let edited = serde_json::to_string(&value).unwrap();
    assert_ne!(edited, event);
    conn.execute(
        "UPDATE records SET event = ?1 WHERE seq = ?2",
        rusqlite::params![edited, seq],
    )
    .expect("edit the record");
}

#[when(regex = r"^an attacker deletes record (\d+) of the audit log$")]
fn deletes(world: &mut ResidencyWorld, seq: i64) {
    let conn = attacker_connection(&db(world));
    let n = conn
        .execute("DELETE FROM records WHERE seq = ?1", [seq])
        .expect("delete the record");
    assert_eq!(n, 1);
}

#[when(regex = r"^an attacker deletes the last (\d+) records of the audit log$")]
fn deletes_tail(world: &mut ResidencyWorld, count: i64) {
    let conn = attacker_connection(&db(world));
    let n = conn
        .execute(
            "DELETE FROM records WHERE seq > (SELECT MAX(seq) FROM records) - ?1",
            [count],
        )
        .expect("delete the tail");
    assert_eq!(n as i64, count);
    cut_tree_to_records(&conn);
}

#[when(regex = r"^an attacker inserts a copy of record (\d+) after it in the audit log$")]
fn inserts(world: &mut ResidencyWorld, seq: i64) {
    let conn = attacker_connection(&db(world));
    // Make room: move every later record up by one (in two steps, so the
    // primary key never collides), then put the copy in the gap with a
    // fresh id.
    conn.execute("UPDATE records SET seq = -(seq + 1) WHERE seq > ?1", [seq])
        .expect("move records");
    conn.execute("UPDATE records SET seq = -seq WHERE seq < 0", [])
        .expect("move records");
    let n = conn
        .execute(
            "INSERT INTO records (seq, id, ts_ns, kind, severity, worker_id, shard_id, event, prev_mac, mac)
             SELECT seq + 1, randomblob(16), ts_ns, kind, severity, worker_id, shard_id, event, prev_mac, mac
             FROM records WHERE seq = ?1",
            [seq],
        )
        .expect("insert the copy");
    assert_eq!(n, 1);
}

#[when(regex = r"^an attacker swaps records (\d+) and (\d+) of the audit log$")]
fn swaps(world: &mut ResidencyWorld, a: i64, b: i64) {
    let conn = attacker_connection(&db(world));
    conn.execute("UPDATE records SET seq = -1 WHERE seq = ?1", [a])
        .unwrap();
    conn.execute("UPDATE records SET seq = ?1 WHERE seq = ?2", [a, b])
        .unwrap();
    conn.execute("UPDATE records SET seq = ?1 WHERE seq = -1", [b])
        .unwrap();
}

/// The reasons a feature can give, as the verifier reports them.
fn reason_matches(reason: &FailureReason, because: &str) -> bool {
    match because {
        "it was edited" => matches!(reason, FailureReason::MacMismatch),
        "records before it were deleted" => matches!(reason, FailureReason::SequenceGap { .. }),
        "it does not follow the record before it" => matches!(reason, FailureReason::BrokenLink),
        "the log belongs to another worker" => matches!(reason, FailureReason::WrongGenesis),
        "the tail was cut off" => matches!(reason, FailureReason::Truncated { .. }),
        "an older copy was put back" => matches!(reason, FailureReason::RolledBack { .. }),
        other => panic!("no failure reason is described as {other:?}"),
    }
}

fn assert_fails_at(report: &audit_core::VerifyReport, seq: u64, because: &str) {
    let failure = report
        .failure
        .as_ref()
        .unwrap_or_else(|| panic!("the audit log verified: {report:?}"));
    assert_eq!(failure.seq, Some(seq), "{failure}");
    assert!(reason_matches(&failure.reason, because), "{failure}");
    // The report names the record in words too.
    assert!(
        failure.to_string().contains(&format!("record {seq}")),
        "{failure}"
    );
}

#[then(regex = r"^verifying the audit log fails at record (\d+) because (.+)$")]
fn log_fails_at(world: &mut ResidencyWorld, seq: u64, because: String) {
    let worker = world.worker();
    let report = verify_log(&worker.db, &worker.id, &worker.secret, None).expect("verify");
    assert_fails_at(&report, seq, &because);
    if let Some(FailureReason::SequenceGap { expected, found }) =
        report.failure.as_ref().map(|f| &f.reason)
    {
        assert_eq!(*found, seq);
        assert_eq!(*expected, seq - 1);
    }
}

#[given(regex = r"^an auditor keeps a signed checkpoint of the audit log$")]
fn keeps_checkpoint(world: &mut ResidencyWorld) {
    let worker = world.worker();
    let log = AuditLog::open_read(&worker.db, &worker.id, &worker.secret).expect("open");
    let signer = CheckpointSigner::derive(&worker.secret).expect("signer");
    let checkpoint = log.checkpoint(&signer).expect("checkpoint");
    world.checkpoint = Some((checkpoint, signer.public_key()));
}

#[then(regex = r"^the audit chain on its own still verifies$")]
fn chain_alone_verifies(world: &mut ResidencyWorld) {
    let worker = world.worker();
    let report = verify_log(&worker.db, &worker.id, &worker.secret, None).expect("verify");
    assert!(report.is_ok(), "{report:?}");
}

#[then(
    regex = r"^verifying the audit log against the checkpoint fails at record (\d+) because (.+)$"
)]
fn checkpoint_fails_at(world: &mut ResidencyWorld, seq: u64, because: String) {
    let worker = world.worker();
    let (checkpoint, key) = world.checkpoint.as_ref().expect("a checkpoint");
    let report =
        verify_log_against_checkpoint(&worker.db, &worker.id, &worker.secret, checkpoint, key)
            .expect("verify against the checkpoint");
    assert_fails_at(&report, seq, &because);
}

#[given(regex = r"^an attacker keeps a copy of the audit log$")]
fn keeps_copy(world: &mut ResidencyWorld) {
    let from = db(world);
    let to = world.dir.path().join("attacker-copy.db");
    std::fs::copy(&from, &to).expect("copy the log");
    world.backup = Some(to);
}

fn restart_seal_shut_down(world: &mut ResidencyWorld, size: &str, id: &str) {
    let worker = world.start(&WorkerSpec::first());
    world.worker = Some(worker);
    world.seal(id, parse_size(size), SealOptions::default());
    assert!(
        matches!(world.last.seal, Some(Ok(_))),
        "{:?}",
        world.last.seal
    );
    world.worker_mut().shut_down();
}

#[given(
    regex = r#"^the worker restarts, seals (\d+ (?:MiB|KiB|bytes?)) of weights as "([^"]*)" and shuts down$"#
)]
fn restarts_given(world: &mut ResidencyWorld, size: String, id: String) {
    restart_seal_shut_down(world, &size, &id);
}

#[when(
    regex = r#"^the worker restarts, seals (\d+ (?:MiB|KiB|bytes?)) of weights as "([^"]*)" and shuts down$"#
)]
fn restarts_when(world: &mut ResidencyWorld, size: String, id: String) {
    restart_seal_shut_down(world, &size, &id);
}

/// Puts `from` in place of the worker's log file (and drops any WAL files
/// left beside it).
fn replace_log(world: &ResidencyWorld, from: &Path) {
    let to = db(world);
    for suffix in ["-wal", "-shm"] {
        let side = to.with_file_name(format!(
            "{}{suffix}",
            to.file_name().unwrap().to_string_lossy()
        ));
        let _ = std::fs::remove_file(side);
    }
    std::fs::copy(from, &to).expect("replace the log");
}

#[when(regex = r"^the attacker puts the old copy back$")]
fn puts_copy_back(world: &mut ResidencyWorld) {
    let copy = world.backup.clone().expect("a copy was kept");
    replace_log(world, &copy);
}

#[when(regex = r"^an attacker re-signs the checkpoint with another key$")]
fn re_signs(world: &mut ResidencyWorld) {
    // The attacker cuts the log and signs a checkpoint of the shorter head
    // with a key of their own.
    let path = db(world);
    let conn = attacker_connection(&path);
    conn.execute("DELETE FROM records WHERE seq > 2", [])
        .unwrap();
    cut_tree_to_records(&conn);
    drop(conn);
    let other = seal_crypto::WorkerSecret::new(OTHER_SECRET).unwrap();
    let worker = world.worker();
    let log = AuditLog::open_read(&path, &worker.id, &worker.secret).unwrap();
    let forged = log
        .checkpoint(&CheckpointSigner::derive(&other).unwrap())
        .unwrap();
    let (checkpoint, _) = world.checkpoint.as_mut().expect("a checkpoint");
    *checkpoint = forged;
}

#[then(
    regex = r"^checking the audit log against the checkpoint is refused as a bad checkpoint signature$"
)]
fn bad_checkpoint(world: &mut ResidencyWorld) {
    let worker = world.worker();
    let (checkpoint, key) = world.checkpoint.as_ref().expect("a checkpoint");
    let result =
        verify_log_against_checkpoint(&worker.db, &worker.id, &worker.secret, checkpoint, key);
    match result {
        Err(AuditError::Checkpoint { reason }) => {
            assert!(reason.contains("signature"), "{reason}");
        }
        other => panic!("the forged checkpoint was not refused: {other:?}"),
    }
}

#[given(
    regex = r"^(a worker with another id and the same secret|a worker with the same id and another secret) has written its own audit log$"
)]
fn other_log(world: &mut ResidencyWorld, who: String) {
    let (id, secret): (&str, &[u8; 32]) = if who.contains("another id") {
        ("worker-b", SECRET)
    } else {
        (crate::world::WORKER_ID, OTHER_SECRET)
    };
    let secret = seal_crypto::WorkerSecret::new(secret).unwrap();
    let path = world.dir.path().join("other-worker.db");
    let mut log = AuditLog::open(&path, id, &secret).expect("open the other log");
    let digest = seal_crypto::sha256(b"other weights");
    for event in [
        AuditEvent::vram_allocated("m:0", 1 << 20, 1 << 20, 8 << 20, 1 << 20, 0),
        AuditEvent::vram_sealed("m:0", 0, 1 << 20, &digest),
        AuditEvent::seal_verified("m:0", 0),
        AuditEvent::vram_deallocated("m:0", 1 << 20, 0, 0),
    ] {
        log.append(&event).expect("append");
    }
    drop(log);
    world.backup = Some(path);
}

#[when(regex = r"^an attacker puts the other log in place of the worker's$")]
fn swaps_in_other(world: &mut ResidencyWorld) {
    let other = world.backup.clone().expect("another log");
    replace_log(world, &other);
}
