//! The publicly verifiable layer (AC-086..AC-095): every record a Merkle
//! leaf, the tree in the same transaction, migration, the stored tree's
//! accounting, log keys, signed checkpoints, cosignatures, public
//! verification and proofs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use audit_core::tlog::{
    self, AddCheckpointRequest, Checkpoint, Hash, HashStore, Note, TlogProof, open_checkpoint,
    stored_hash_count, stored_hash_index,
};
use audit_core::{
    AuditError, AuditLog, AuditRecord, FailureReason, MAX_CHECKPOINT_NOTE_BYTES, PublicFailure,
    RetentionPolicy, SCHEMA_VERSION, verify_log, verify_public,
};
use common::*;

fn vkey() -> tlog::VerifierKey {
    log_key().verifier_key()
}

/// The records of a log, as an export gives them.
fn records(path: &std::path::Path) -> Vec<AuditRecord> {
    let log = AuditLog::open_read(path, WORKER, &secret()).unwrap();
    let mut out = Vec::new();
    log.export_ndjson(None, &mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The stored hashes of the `tree` table, `(index, hash)`, read from its
/// blocks, which must be contiguous from index 0.
fn tree_rows(path: &std::path::Path) -> Vec<(i64, Vec<u8>)> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT first, hashes FROM tree ORDER BY first")
        .unwrap();
    let blocks: Vec<(i64, Vec<u8>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut out = Vec::new();
    for (first, hashes) in blocks {
        assert_eq!(first, out.len() as i64, "blocks are contiguous");
        assert!(!hashes.is_empty() && hashes.len() % 32 == 0);
        for hash in hashes.chunks(32) {
            out.push((out.len() as i64, hash.to_vec()));
        }
    }
    out
}

/// A log of `n` records with a signed checkpoint of all of them.
fn signed_log(dir: &std::path::Path, name: &str, n: u64) -> (std::path::PathBuf, String) {
    let path = build(dir, name, n);
    let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
    let note = log.signed_checkpoint(&log_key()).unwrap();
    (path, note)
}

fn public(
    path: &std::path::Path,
    note: Option<&str>,
    previous: Option<&str>,
) -> Option<PublicFailure> {
    verify_public(path, &vkey(), note, previous, &[], 0)
        .unwrap()
        .failure
}

/// The AC-070 encoding, written out from the spec.
fn encode(domain: &str, version: u16, fields: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = (domain.len() as u64).to_be_bytes().to_vec();
    out.extend_from_slice(domain.as_bytes());
    out.extend_from_slice(&version.to_be_bytes());
    for (tag, value) in fields {
        out.push(*tag);
        out.extend_from_slice(&(value.len() as u64).to_be_bytes());
        out.extend_from_slice(value);
    }
    out
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// AC-086, AC-087: leaf `seq − 1` is SHA-256(0x00 || the leaf encoding of
/// the record with its MAC), recomputed from an export with no key, equal
/// to the stored leaf and to `AuditLog::leaf_hash`.
#[test]
fn ac_086_ac_087_every_record_is_a_leaf_recomputable_from_its_export() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 12);
    let rows = tree_rows(&path);
    assert_eq!(rows.len() as u64, stored_hash_count(12).unwrap());
    let log = AuditLog::open_read(&path, WORKER, &secret()).unwrap();
    for record in records(&path) {
        let shard = record.shard_id.clone();
        let data = encode(
            "vram-residency/audit-leaf",
            1,
            &[
                (1, record.worker_id.clone().into_bytes()),
                (2, record.seq.to_be_bytes().to_vec()),
                (3, record.id.as_bytes().to_vec()),
                (
                    4,
                    record
                        .timestamp
                        .timestamp_nanos_opt()
                        .unwrap()
                        .to_be_bytes()
                        .to_vec(),
                ),
                (5, record.kind.clone().into_bytes()),
                (6, record.severity.rank().to_be_bytes().to_vec()),
                (7, vec![u8::from(shard.is_some())]),
                (8, shard.unwrap_or_default().into_bytes()),
                (
                    9,
                    serde_json::to_string(&record.event).unwrap().into_bytes(),
                ),
                (10, hex(&record.prev_mac)),
                (11, hex(&record.mac)),
            ],
        );
        let leaf = tlog::leaf_hash(&data);
        assert_eq!(audit_core::leaf_hash(&record), Some(leaf));
        assert_eq!(log.leaf_hash(record.seq).unwrap(), leaf);
        let index = stored_hash_index(0, record.seq - 1).unwrap();
        assert_eq!(
            rows[index as usize],
            (index as i64, leaf.as_bytes().to_vec())
        );
    }
    assert_eq!(log.tree_size().unwrap(), 12);
    let leaves: Vec<Hash> = records(&path)
        .iter()
        .map(|r| audit_core::leaf_hash(r).unwrap())
        .collect();
    assert_eq!(log.tree_root(12).unwrap(), tlog::merkle_root(&leaves));
}

/// AC-087: retention deletes records, never tree hashes: the tree keeps a
/// leaf per sequence number ever appended, proofs of kept records and
/// consistency with earlier checkpoints still work, and both verifications
/// pass, the public one taking the dropped leaves as stored.
#[test]
fn ac_087_retention_keeps_every_leaf() {
    let dir = tempfile::tempdir().unwrap();
    let (path, before) = signed_log(dir.path(), "a.db", 30);
    let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
    let report = log
        .apply_retention(&RetentionPolicy::default().with_max_records(10))
        .unwrap();
    assert_eq!((report.dropped, report.anchor_seq), (20, Some(20)));
    assert_eq!(
        log.tree_size().unwrap(),
        31,
        "30 records and AuditRetention"
    );
    let after = log.signed_checkpoint(&log_key()).unwrap();
    let proof = log.inclusion_proof(25, 31).unwrap();
    tlog::verify_inclusion(
        log.leaf_hash(25).unwrap().as_bytes(),
        24,
        31,
        &proof,
        log.tree_root(31).unwrap().as_bytes(),
    )
    .unwrap();
    assert!(matches!(log.leaf_hash(5), Err(AuditError::Proof { .. })));
    drop(log);
    assert!(verify(&path).is_ok());
    let report = verify_public(&path, &vkey(), None, Some(&before), &[], 0).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.leaves_without_record, 20);
    assert_eq!(report.records_checked, 11);
    assert_eq!((report.first_seq, report.last_seq), (Some(21), Some(31)));
    assert!(public(&path, Some(&after), Some(&before)).is_none());
}

/// AC-088: the records of a batch and their tree hashes commit together: a
/// batch whose tree insert fails after its records were inserted leaves
/// neither its records nor any of its hashes, and the log goes on from
/// where it was.
#[test]
fn ac_088_a_batch_that_fails_leaves_neither_records_nor_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 10);
    let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
    // The next batch's block of tree hashes (it starts where the tree of 10
    // leaves ends, and holds leaf 13, record 14) fails.
    let failing = stored_hash_count(10).unwrap();
    assert!(stored_hash_index(0, 13).unwrap() > failing);
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(&format!(
            "CREATE TRIGGER fail_once BEFORE INSERT ON tree WHEN NEW.first = {failing} \
             BEGIN SELECT RAISE(ABORT, 'simulated failure'); END;"
        ))
        .unwrap();
    let events: Vec<_> = (11..=20).map(event).collect();
    let error = log.append_batch(&events).unwrap_err();
    assert!(matches!(error, AuditError::Storage { .. }), "{error:?}");
    assert_eq!(log.record_count().unwrap(), 10);
    assert_eq!(
        tree_rows(&path).len() as u64,
        stored_hash_count(10).unwrap()
    );
    assert!(verify(&path).is_ok());
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("DROP TRIGGER fail_once")
        .unwrap();
    log.append_batch(&events).unwrap();
    assert_eq!(
        tree_rows(&path).len() as u64,
        stored_hash_count(20).unwrap()
    );
    assert!(verify(&path).is_ok());
}

/// AC-088, AC-012: each batch's tree hashes are one block row starting
/// where the previous block ends; the triggers refuse a block anywhere
/// else, and any change or deletion of a block; the `CHECK`s refuse a
/// block that is not a whole, non-zero number of 32-byte hashes.
#[test]
fn ac_088_one_block_per_batch_appended_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 3);
    let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
    log.append_batch(&[event(4)]).unwrap();
    log.append_batch(&(5..=9).map(event).collect::<Vec<_>>())
        .unwrap();
    drop(log);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let blocks: Vec<(i64, i64)> = conn
        .prepare("SELECT first, length(hashes) / 32 FROM tree ORDER BY first")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let count = |n: u64| stored_hash_count(n).unwrap() as i64;
    assert_eq!(
        blocks,
        vec![
            (0, count(3)),
            (count(3), count(4) - count(3)),
            (count(4), count(9) - count(4)),
        ]
    );
    assert_eq!(tree_rows(&path).len() as i64, count(9));
    let end = count(9);
    let refused = |sql: &str, what: &str| {
        let err = conn.execute_batch(sql).unwrap_err().to_string();
        assert!(err.contains(what), "{sql}: {err}");
    };
    for sql in [
        format!("INSERT INTO tree VALUES ({}, zeroblob(32))", end + 1),
        format!("INSERT INTO tree VALUES ({}, zeroblob(32))", end - 1),
        "INSERT INTO tree VALUES (0, zeroblob(32))".to_owned(),
    ] {
        refused(&sql, "appended in order");
    }
    refused(
        "UPDATE tree SET hashes = zeroblob(32) WHERE first = 0",
        "UPDATE is refused",
    );
    refused(
        &format!("DELETE FROM tree WHERE first = {}", count(4)),
        "DELETE is refused",
    );
    for sql in [
        format!("INSERT INTO tree VALUES ({end}, zeroblob(31))"),
        format!("INSERT INTO tree VALUES ({end}, zeroblob(0))"),
        format!("INSERT INTO tree VALUES ({end}, randomblob(33))"),
    ] {
        refused(&sql, "CHECK constraint");
    }
    drop(conn);
    assert!(verify(&path).is_ok());
    let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
    log.append(&event(10)).unwrap();
    assert_eq!(log.tree_size().unwrap(), 10);
    drop(log);
    assert!(verify(&path).is_ok());
}

/// Turns a fresh log into the schema-2 layout (no tree, no checkpoints).
fn downgrade_to_v2(path: &std::path::Path) {
    let conn = attacker(path);
    conn.execute_batch(
        "DROP TABLE tree; DROP TABLE checkpoints; DROP TRIGGER meta_no_update; \
         UPDATE meta SET value = '2' WHERE key = 'schema_version'; PRAGMA user_version = 2;",
    )
    .unwrap();
}

/// AC-089: a schema-2 log is read and verified as it is (no tree: public
/// verification says so), and migrated in one transaction when opened for
/// writing: the tree holds every record's leaf, the log verifies, and it
/// can be signed and publicly verified.
#[test]
fn ac_089_a_version_2_log_is_migrated_when_opened_for_writing() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 21);
    downgrade_to_v2(&path);
    assert!(verify(&path).is_ok());
    let reader = AuditLog::open_read(&path, WORKER, &secret()).unwrap();
    assert!(matches!(reader.tree_size(), Err(AuditError::Tree { .. })));
    drop(reader);
    assert_eq!(
        verify_public(&path, &vkey(), None, None, &[], 0)
            .unwrap()
            .failure,
        Some(PublicFailure::NoTree { schema_version: 2 })
    );
    let leaves: Vec<Hash> = records(&path)
        .iter()
        .map(|r| audit_core::leaf_hash(r).unwrap())
        .collect();

    let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
    assert_eq!(log.tree_size().unwrap(), 21);
    assert_eq!(log.tree_root(21).unwrap(), tlog::merkle_root(&leaves));
    let memory = tlog::MemoryHashStore::from_entries(std::iter::empty::<&[u8]>()).unwrap();
    drop(memory);
    let mut store = tlog::MemoryHashStore::new();
    for leaf in &leaves {
        store.append_leaf_hash(*leaf).unwrap();
    }
    let stored: Vec<Vec<u8>> = tree_rows(&path).into_iter().map(|(_, h)| h).collect();
    let expected: Vec<Vec<u8>> = store
        .stored_hashes()
        .iter()
        .map(|h| h.as_bytes().to_vec())
        .collect();
    assert_eq!(stored, expected);
    log.append(&event(22)).unwrap();
    let note = log.signed_checkpoint(&log_key()).unwrap();
    drop(log);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    let meta: String = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!((version, meta.as_str()), (SCHEMA_VERSION, "3"));
    // The meta row is append-only again after the migration.
    assert!(
        conn.execute(
            "UPDATE meta SET value = '4' WHERE key = 'schema_version'",
            []
        )
        .is_err()
    );
    drop(conn);
    assert!(verify(&path).is_ok());
    assert!(public(&path, Some(&note), None).is_none());
}

/// AC-089: retention before the migration leaves placeholder leaves for
/// the dropped records; a log whose chain does not verify is not migrated
/// and not changed (schema 1: `wire_vectors.rs`).
#[test]
fn ac_089_migration_after_retention_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 15);
    AuditLog::open(&path, WORKER, &secret())
        .unwrap()
        .apply_retention(&RetentionPolicy::default().with_max_records(5))
        .unwrap();
    downgrade_to_v2(&path);
    let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
    assert_eq!(log.tree_size().unwrap(), 16);
    let note = log.signed_checkpoint(&log_key()).unwrap();
    drop(log);
    assert!(verify(&path).is_ok());
    let report = verify_public(&path, &vkey(), Some(&note), None, &[], 0).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.leaves_without_record, 10);

    // Edited in the middle: the tail check passes, the migration refuses.
    let path = build(dir.path(), "b.db", 2000);
    downgrade_to_v2(&path);
    attacker(&path)
        .execute("UPDATE records SET severity = 0 WHERE seq = 3", [])
        .unwrap();
    let error = AuditLog::open(&path, WORKER, &secret()).unwrap_err();
    assert!(
        matches!(error, AuditError::Migration { from: 2, to: 3, .. }),
        "{error:?}"
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 2);
    let tables: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('tree', 'checkpoints')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0, "nothing of the migration is left");
    drop(conn);
}

/// AC-089, AC-088: a long log is migrated in chunks, each written as a
/// block starting where the previous one ends; the tree is the tree of
/// every record.
#[test]
fn ac_089_migration_writes_contiguous_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 9000);
    downgrade_to_v2(&path);
    let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
    let leaves: Vec<Hash> = records(&path)
        .iter()
        .map(|r| audit_core::leaf_hash(r).unwrap())
        .collect();
    assert_eq!(log.tree_root(9000).unwrap(), tlog::merkle_root(&leaves));
    log.append(&event(9001)).unwrap();
    drop(log);
    let blocks: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM tree", [], |r| r.get(0))
        .unwrap();
    // About 18,000 hashes in full blocks of 120 (the migration writes them
    // 8,192 at a time, each write ending in one part-filled block), and
    // one block for the record appended since: not a row per leaf.
    let full = stored_hash_count(9001).unwrap().div_ceil(120) as i64;
    assert!(
        (full..=full + 4).contains(&blocks),
        "{blocks} blocks, {full} full ones"
    );
    assert_eq!(
        tree_rows(&path).len() as u64,
        stored_hash_count(9001).unwrap()
    );
    assert!(verify(&path).is_ok());
}

/// AC-090: a range check also checks that the tree holds the hashes of the
/// chain's head: hashes cut off the end fail it, naming the tree.
#[test]
fn ac_090_a_range_check_sees_a_cut_tree() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 13);
    let log = AuditLog::open_read(&path, WORKER, &secret()).unwrap();
    assert!(log.verify(Some(2..=5)).unwrap().is_ok());
    drop(log);
    attacker(&path)
        .execute(
            "DELETE FROM tree WHERE first = (SELECT MAX(first) FROM tree)",
            [],
        )
        .unwrap();
    let log = AuditLog::open_read(&path, WORKER, &secret()).unwrap();
    let report = log.verify(Some(2..=5)).unwrap();
    match report.failure.map(|f| f.reason) {
        Some(FailureReason::Structure { detail }) => {
            assert!(detail.contains("tree table ends"), "{detail}");
        }
        other => panic!("a cut tree passed a range check: {other:?}"),
    }
}

/// AC-090: every stored hash of `tree` is accounted for, with the secret
/// and without: blocks contiguous from index 0, each a whole number of
/// 32-byte hashes, exactly 2N − popcount(N) hashes in all, each equal to
/// the recomputed leaf or node; anything else fails, named.
#[test]
fn ac_090_every_tree_row_is_accounted_for() {
    type Attack = Box<dyn Fn(&rusqlite::Connection)>;
    let dir = tempfile::tempdir().unwrap();
    let count = stored_hash_count(13).unwrap() as i64;
    let leaf6 = stored_hash_index(0, 5).unwrap();
    let node = stored_hash_index(1, 0).unwrap();
    let sql = |sql: String| -> Attack { Box::new(move |c| c.execute_batch(&sql).unwrap()) };
    let cases: Vec<(&str, Attack)> = vec![
        (
            "missing last",
            sql("UPDATE tree SET hashes = substr(hashes, 1, length(hashes) - 32) \
                 WHERE first = (SELECT MAX(first) FROM tree)"
                .into()),
        ),
        (
            "extra",
            sql(format!("INSERT INTO tree VALUES ({count}, zeroblob(32))")),
        ),
        (
            "extra in the last block",
            Box::new(|c| {
                let (first, mut hashes): (i64, Vec<u8>) = c
                    .query_row(
                        "SELECT first, hashes FROM tree ORDER BY first DESC LIMIT 1",
                        [],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .unwrap();
                hashes.extend([0; 32]);
                c.execute(
                    "UPDATE tree SET hashes = ?1 WHERE first = ?2",
                    rusqlite::params![hashes, first],
                )
                .unwrap();
            }),
        ),
        (
            "negative",
            sql("INSERT INTO tree VALUES (-1, zeroblob(32))".into()),
        ),
        (
            "gap",
            sql(format!("INSERT INTO tree VALUES ({}, zeroblob(32))", count + 1)),
        ),
        (
            "text first",
            sql("CREATE TABLE t AS SELECT * FROM tree; DROP TABLE tree; \
                 CREATE TABLE tree (first, hashes); INSERT INTO tree SELECT * FROM t; DROP TABLE t; \
                 INSERT INTO tree VALUES ('x', zeroblob(32))"
                .into()),
        ),
        (
            "short hash",
            Box::new(move |c| set_tree_hash(c, node, &[0; 31])),
        ),
        (
            "empty block",
            sql(format!("INSERT INTO tree VALUES ({count}, zeroblob(0))")),
        ),
        (
            "leaf",
            Box::new(move |c| set_tree_hash(c, leaf6, &[0; 32])),
        ),
        (
            "node",
            Box::new(move |c| set_tree_hash(c, node, &[0; 32])),
        ),
        (
            "records cut, tree kept",
            sql("DELETE FROM records WHERE seq > 10".into()),
        ),
        ("table dropped", sql("DROP TABLE tree".into())),
    ];
    for (index, (name, attack)) in cases.iter().enumerate() {
        let (path, note) = signed_log(dir.path(), &format!("{index}.db"), 13);
        attack(&attacker(&path));
        let secret_report = verify(&path);
        let public_failure = public(&path, Some(&note), None);
        let (seq, reason) = failure(&secret_report);
        match *name {
            "leaf" => {
                assert_eq!(
                    (seq, &reason),
                    (Some(6), &FailureReason::LeafMismatch),
                    "{name}"
                );
                assert_eq!(
                    public_failure,
                    Some(PublicFailure::LeafMismatch { seq: 6 }),
                    "{name}"
                );
            }
            "node" => {
                let index = node;
                assert_eq!(reason, FailureReason::TreeMismatch { index }, "{name}");
                assert_eq!(
                    public_failure,
                    Some(PublicFailure::TreeMismatch { index }),
                    "{name}"
                );
            }
            "records cut, tree kept" => {
                assert!(
                    matches!(reason, FailureReason::Structure { .. }),
                    "{name}: {reason:?}"
                );
                // Against the checkpoint, the cut shows first.
                assert_eq!(
                    public_failure,
                    Some(PublicFailure::CheckpointBeyondLog {
                        checkpoint_size: 13,
                        tree_size: 10
                    })
                );
                assert!(matches!(
                    public(&path, None, None),
                    Some(PublicFailure::CheckpointBeyondLog { .. })
                ));
            }
            _ => {
                assert!(
                    matches!(reason, FailureReason::Structure { .. }),
                    "{name}: {reason:?}"
                );
                assert!(
                    matches!(public_failure, Some(PublicFailure::Structure { .. })),
                    "{name}: {public_failure:?}"
                );
            }
        }
    }
    // An edited leaf in the tail is found when the log is opened to write.
    let (path, _) = signed_log(dir.path(), "tail.db", 13);
    set_tree_hash(&attacker(&path), leaf6, &[0; 32]);
    assert!(matches!(
        AuditLog::open(&path, WORKER, &secret()),
        Err(AuditError::BrokenTail { seq: 6, .. })
    ));
}

/// AC-091: a random log key named after the origin, saved once with mode
/// 0600 as one `PRIVATE+KEY+…` line, loaded back; never overwritten; a
/// key file others can read, or that is not a key, refused without
/// showing it.
#[test]
fn ac_091_log_key_files() {
    let dir = tempfile::tempdir().unwrap();
    let key = audit_core::generate_log_key(WORKER).unwrap();
    assert_eq!(key.name(), audit_core::log_origin(WORKER).unwrap());
    assert_eq!(key.kind(), tlog::SignatureType::Ed25519);
    assert_ne!(
        key.verifier_key(),
        audit_core::generate_log_key(WORKER).unwrap().verifier_key(),
        "random, not derived from anything"
    );
    let path = dir.path().join("log.key");
    audit_core::save_log_key(&path, &key).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("PRIVATE+KEY+vram-residency/audit/worker-a+"));
    assert!(text.ends_with('\n') && text.lines().count() == 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let loaded = audit_core::load_log_key(&path).unwrap();
    assert_eq!(loaded.verifier_key(), key.verifier_key());
    let again = audit_core::save_log_key(&path, &audit_core::generate_log_key(WORKER).unwrap());
    assert!(matches!(again, Err(AuditError::LogKey { .. })), "{again:?}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "not overwritten"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = audit_core::load_log_key(&path).unwrap_err();
        assert!(matches!(error, AuditError::LogKey { .. }));
        assert!(!error.to_string().contains(text.trim()), "{error}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    // The key data after PRIVATE+KEY+name+hash: base64, which may hold a '+' itself.
    let seed_part = text.trim().splitn(5, '+').nth(4).unwrap().to_owned();
    let bad = dir.path().join("bad.key");
    audit_core::save_log_key(&bad, &key).unwrap();
    let mut edited = text.trim().to_owned();
    edited.push_str("AA");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    std::fs::write(&bad, &edited).unwrap();
    let error = audit_core::load_log_key(&bad).unwrap_err();
    assert!(!error.to_string().contains(&seed_part), "{error}");
    assert!(!format!("{error:?}").contains(&seed_part));
    assert!(!format!("{key:?}").contains(&seed_part));
    // At most 1,024 bytes are read: a file of exactly that is parsed (and
    // is no key), one byte more is refused for its size.
    for (len, says) in [
        (1024, "does not hold a signer key"),
        (1025, "larger than the 1024 bytes"),
        (2000, "larger than the 1024 bytes"),
    ] {
        std::fs::write(&bad, vec![b'A'; len]).unwrap();
        let error = audit_core::load_log_key(&bad).unwrap_err();
        assert!(
            matches!(error, AuditError::LogKey { .. }),
            "{len}: {error:?}"
        );
        assert!(error.to_string().contains(says), "{len}: {error}");
    }
    assert!(
        audit_core::load_log_key(dir.path())
            .unwrap_err()
            .to_string()
            .contains("not a regular file")
    );
    assert!(matches!(
        audit_core::load_log_key(dir.path().join("none.key")),
        Err(AuditError::NotFound { .. })
    ));
}

/// AC-092: a signed checkpoint is the C2SP note (origin, size = leaves,
/// root) signed by the log key, stored in the log; signing again unchanged
/// stores nothing new; keys of another log, cosigner keys and readers are
/// refused; records that do not verify are never signed.
#[test]
fn ac_092_signed_checkpoints_are_c2sp_notes_stored_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 8);
    let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
    let note = log.signed_checkpoint(&log_key()).unwrap();
    let origin = audit_core::log_origin(WORKER).unwrap();
    let root = log.tree_root(8).unwrap();
    let lines: Vec<&str> = note.lines().collect();
    assert_eq!(&lines[..4], [origin.as_str(), "8", &root.to_base64(), ""]);
    assert!(lines[4].starts_with(&format!("\u{2014} {origin} ")));
    assert_eq!(lines.len(), 5);
    let signed = open_checkpoint(note.as_bytes(), &origin, &vkey(), &[]).unwrap();
    assert_eq!(
        (signed.checkpoint().size(), *signed.checkpoint().root()),
        (8, root)
    );
    assert_eq!(log.signed_checkpoint(&log_key()).unwrap(), note);
    assert_eq!(log.signed_checkpoints().unwrap().len(), 1);
    let stored = log.latest_signed_checkpoint().unwrap().unwrap();
    assert_eq!(
        (stored.id, stored.size, stored.root, stored.note.as_str()),
        (1, 8, root, note.as_str())
    );
    log.append(&event(9)).unwrap();
    let second = log.signed_checkpoint(&log_key()).unwrap();
    assert_eq!(log.signed_checkpoints().unwrap().len(), 2);
    assert!(second.starts_with(&format!("{origin}\n9\n")));

    let other = key_for("another-worker", 0x22);
    assert!(matches!(
        log.signed_checkpoint(&other),
        Err(AuditError::LogKey { .. })
    ));
    let cosigner = log_key().to_cosigner();
    assert!(matches!(
        log.signed_checkpoint(&cosigner),
        Err(AuditError::LogKey { .. })
    ));
    drop(log);
    let mut reader = AuditLog::open_read(&path, WORKER, &secret()).unwrap();
    assert!(matches!(
        reader.signed_checkpoint(&log_key()),
        Err(AuditError::ReadOnly { .. })
    ));
    drop(reader);

    // A record edited since the last checkpoint, tree and all: not signed.
    let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
    log.append_batch(&[event(10), event(11)]).unwrap();
    attacker(&path)
        .execute("UPDATE records SET severity = 0 WHERE seq = 10", [])
        .unwrap();
    let error = log.signed_checkpoint(&log_key()).unwrap_err();
    assert!(
        matches!(error, AuditError::SignedCheckpoint { .. }),
        "{error:?}"
    );
    assert_eq!(log.signed_checkpoints().unwrap().len(), 2);
    // The stored checkpoints are append-only: only cosignatures may be added.
    let (path, _) = signed_log(dir.path(), "b.db", 3);
    let conn = rusqlite::Connection::open(&path).unwrap();
    assert!(
        conn.execute("UPDATE checkpoints SET size = 1 WHERE id = 1", [])
            .is_err()
    );
    assert!(
        conn.execute("UPDATE checkpoints SET note = 'x' WHERE id = 1", [])
            .is_err()
    );
    assert!(conn.execute("DELETE FROM checkpoints", []).is_err());
}

/// AC-093: witnesses' cosignatures are added to the stored checkpoint
/// after they verify; an unknown witness or a bad line stores nothing;
/// public verification then counts them against a quorum.
#[test]
fn ac_093_cosignatures_are_verified_then_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (path, note) = signed_log(dir.path(), "a.db", 6);
    let (w1, w2) = (
        witness("witness.example/one", 0x31),
        witness("witness.example/two", 0x32),
    );
    let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
    let request = log.add_checkpoint_request(0, None).unwrap().to_string();
    let line1 = witness_cosigns(&w1, &request, None, 1_700_000_000);
    let line2 = witness_cosigns(&w2, &request, None, 1_700_000_001);

    // A witness not given, or a corrupted line: refused, nothing stored.
    let refused = log.add_cosignatures(6, &line2, &[w1.verifier_key()]);
    assert!(matches!(refused, Err(AuditError::SignedCheckpoint { .. })));
    let mut corrupt = line1.clone().into_bytes();
    let at = corrupt.len() - 6;
    corrupt[at] = if corrupt[at] == b'A' { b'B' } else { b'A' };
    let corrupt = String::from_utf8(corrupt).unwrap();
    let refused = log.add_cosignatures(6, &corrupt, &[w1.verifier_key()]);
    assert!(
        matches!(refused, Err(AuditError::SignedCheckpoint { .. })),
        "{refused:?}"
    );
    assert!(matches!(
        log.add_cosignatures(7, &line1, &[w1.verifier_key()]),
        Err(AuditError::SignedCheckpoint { .. })
    ));
    assert_eq!(log.latest_signed_checkpoint().unwrap().unwrap().note, note);

    let witnesses = [w1.verifier_key(), w2.verifier_key()];
    let with_one = log.add_cosignatures(6, &line1, &witnesses).unwrap();
    assert_eq!(with_one, format!("{note}{line1}"));
    assert_eq!(
        log.add_cosignatures(6, &line1, &witnesses).unwrap(),
        with_one,
        "idempotent"
    );
    drop(log);
    let report = verify_public(&path, &vkey(), None, None, &witnesses, 2).unwrap();
    assert_eq!(
        report.failure,
        Some(PublicFailure::QuorumNotMet {
            cosigned: 1,
            quorum: 2,
            missing: vec!["witness.example/two".into()]
        })
    );
    let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
    let with_two = log.add_cosignatures(6, &line2, &witnesses).unwrap();
    assert_eq!(with_two, format!("{note}{line1}{line2}"));
    drop(log);
    let report = verify_public(&path, &vkey(), None, None, &witnesses, 2).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(
        report.cosigned_by,
        ["witness.example/one", "witness.example/two"]
    );
    assert!(verify(&path).is_ok());
}

/// AC-094: public verification needs only the vkey; fails closed without a
/// checkpoint, with another log's key or checkpoint, with a bad policy.
#[test]
fn ac_094_public_verification_needs_no_secret_and_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (path, note) = signed_log(dir.path(), "a.db", 20);
    let report = verify_public(&path, &vkey(), None, None, &[], 0).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.worker_id.as_deref(), Some(WORKER));
    assert_eq!((report.tree_size, report.records_checked), (20, 20));
    assert_eq!(report.checkpoint_size, Some(20));
    assert_eq!(
        report.checkpoint_source,
        Some(audit_core::CheckpointSource::Stored)
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["tree_root"], json["checkpoint_root"]);
    assert!(public(&path, Some(&note), None).is_none());

    // Another key.
    let stranger = key_for(WORKER, 0x99).verifier_key();
    let report = verify_public(&path, &stranger, None, None, &[], 0).unwrap();
    assert!(matches!(
        report.failure,
        Some(PublicFailure::CheckpointRejected { .. })
    ));
    // Another log's checkpoint, signed by its own key.
    let (other, other_note) = {
        let path = dir.path().join("other.db");
        let mut log = AuditLog::open(&path, "worker-b", &secret()).unwrap();
        log.append(&event(1)).unwrap();
        let note = log.signed_checkpoint(&key_for("worker-b", 0x22)).unwrap();
        (path, note)
    };
    assert!(matches!(
        public(&path, Some(&other_note), None),
        Some(PublicFailure::CheckpointRejected { .. })
    ));
    assert!(matches!(
        public(&other, None, None),
        Some(PublicFailure::CheckpointRejected { .. })
    ));
    // A witness's key is not the log's.
    let w = witness("witness.example/one", 0x31);
    assert!(verify_public(&path, &w.verifier_key(), None, None, &[], 0).is_err());
    assert!(verify_public(&path, &vkey(), None, None, &[], 1).is_err());
    assert!(verify_public(&path, &vkey(), None, None, &[w.verifier_key()], 2).is_err());
    assert!(matches!(
        verify_public(dir.path().join("none.db"), &vkey(), None, None, &[], 0),
        Err(AuditError::NotFound { .. })
    ));
}

/// AC-094: the report of a public verification: the schema version it
/// read, `is_ok` only without a failure, a failure that says what it is in
/// words, and a checkpoint of the empty log kept from before is a valid
/// previous one (every log extends it).
#[test]
fn ac_094_public_reports_say_what_they_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
    let empty = log.signed_checkpoint(&log_key()).unwrap();
    for i in 0..6 {
        log.append(&event(i)).unwrap();
    }
    log.signed_checkpoint(&log_key()).unwrap();
    drop(log);
    let report = verify_public(&path, &vkey(), None, Some(&empty), &[], 0).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.schema_version, Some(SCHEMA_VERSION));
    assert_eq!(report.previous_size, Some(0));
    attacker(&path)
        .execute("UPDATE records SET severity = 0 WHERE seq = 4", [])
        .unwrap();
    let report = verify_public(&path, &vkey(), None, None, &[], 0).unwrap();
    assert!(!report.is_ok(), "{report:?}");
    let failure = report.failure.clone().unwrap();
    assert_eq!(failure, PublicFailure::LeafMismatch { seq: 4 });
    let words = failure.to_string();
    assert!(
        words.contains("record 4") && words.contains("Merkle leaf"),
        "{words}"
    );
    for (failure, needle) in [
        (PublicFailure::NoCheckpoint, "checkpoint"),
        (
            PublicFailure::RolledBack {
                previous_size: 9,
                size: 4,
            },
            "9",
        ),
        (PublicFailure::Forked { size: 7 }, "7"),
        (
            PublicFailure::SequenceGap {
                expected: 3,
                found: 5,
            },
            "expected record 3, found 5",
        ),
    ] {
        let words = failure.to_string();
        assert!(words.contains(needle), "{words}");
    }
}

/// AC-094: a log with no signed checkpoint fails public verification,
/// however intact it is.
#[test]
fn ac_094_a_log_with_no_checkpoint_fails_public_verification() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", 5);
    assert!(verify(&path).is_ok());
    assert_eq!(public(&path, None, None), Some(PublicFailure::NoCheckpoint));
    let empty = dir.path().join("empty.db");
    drop(AuditLog::open(&empty, WORKER, &secret()).unwrap());
    assert_eq!(
        public(&empty, None, None),
        Some(PublicFailure::NoCheckpoint)
    );
}

/// A store that counts its reads.
struct Counting<'a>(audit_core::TreeStore<'a>, std::cell::Cell<usize>);

impl HashStore for Counting<'_> {
    type Error = audit_core::TreeReadError;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Self::Error> {
        self.1.set(self.1.get() + 1);
        self.0.read_hashes(indexes)
    }
}

/// AC-095: inclusion and consistency proofs from the stored tree verify
/// for every record and pair of sizes, each from one batched read; the
/// C2SP `tlog-proof` and `add-checkpoint` texts parse and verify.
#[test]
fn ac_095_proofs_from_the_stored_tree() {
    let dir = tempfile::tempdir().unwrap();
    let (path, note) = signed_log(dir.path(), "a.db", 37);
    let log = AuditLog::open_read(&path, WORKER, &secret()).unwrap();
    let origin = log.origin().unwrap();
    let roots: Vec<Hash> = (0..=37).map(|n| log.tree_root(n).unwrap()).collect();
    for size in [1, 2, 5, 8, 20, 37] {
        for seq in 1..=size {
            let proof = log.inclusion_proof(seq, size).unwrap();
            tlog::verify_inclusion(
                log.leaf_hash(seq).unwrap().as_bytes(),
                seq - 1,
                size,
                &proof,
                roots[size as usize].as_bytes(),
            )
            .unwrap();
        }
        for old in 1..=size {
            let proof = log.consistency_proof(old, size).unwrap();
            tlog::verify_consistency(
                old,
                size,
                roots[old as usize].as_bytes(),
                roots[size as usize].as_bytes(),
                &proof,
            )
            .unwrap();
        }
    }
    let counting = Counting(log.tree_store(), std::cell::Cell::new(0));
    tlog::inclusion_proof(&counting, 37, 11).unwrap();
    assert_eq!(counting.1.get(), 1);
    tlog::consistency_proof(&counting, 13, 37).unwrap();
    assert_eq!(counting.1.get(), 2);
    assert!(matches!(
        log.inclusion_proof(38, 37),
        Err(AuditError::Proof { .. })
    ));
    assert!(matches!(
        log.inclusion_proof(1, 38),
        Err(AuditError::Proof { .. })
    ));
    assert!(matches!(
        log.consistency_proof(5, 4),
        Err(AuditError::Proof { .. })
    ));

    // tlog-proof: text out, parsed and verified by a relying party.
    let text = log.tlog_proof(17, None).unwrap().to_string();
    assert!(text.starts_with("c2sp.org/tlog-proof@v1\nindex 16\n"));
    assert!(text.ends_with(&note));
    let proof = TlogProof::parse(text.as_bytes()).unwrap();
    let record = records(&path).into_iter().find(|r| r.seq == 17).unwrap();
    let leaf = audit_core::leaf_hash(&record).unwrap();
    proof.verify_log_signature(&leaf, &origin, &vkey()).unwrap();
    let other = audit_core::leaf_hash(&records(&path)[3]).unwrap();
    assert!(
        proof
            .verify_log_signature(&other, &origin, &vkey())
            .is_err()
    );
    assert!(matches!(
        log.tlog_proof(38, None),
        Err(AuditError::Proof { .. })
    ));

    // add-checkpoint: a witness at 20 checks the proof to 37.
    let body = log.add_checkpoint_request(20, None).unwrap().to_string();
    assert!(body.starts_with("old 20\n"));
    let request = AddCheckpointRequest::parse(body.as_bytes()).unwrap();
    let checked: Checkpoint = request.check_consistency(&roots[20]).unwrap();
    assert_eq!(checked.size(), 37);
    assert!(request.check_consistency(&roots[19]).is_err());
    // A checkpoint of another history is not served.
    let forged = Checkpoint::new(&origin, 37, roots[36])
        .unwrap()
        .sign(&log_key())
        .unwrap()
        .to_string();
    assert!(matches!(
        log.tlog_proof(3, Some(&forged)),
        Err(AuditError::SignedCheckpoint { .. })
    ));
    let _ = Note::parse(note.as_bytes()).unwrap();
    assert!(verify_log(&path, WORKER, &secret(), None).unwrap().is_ok());
}

/// AC-092: a checkpoint is signed on a second connection while the
/// worker's writer keeps the log open and appends; the writer is not held
/// up, and the next checkpoint extends the first.
#[test]
fn ac_092_signing_beside_a_live_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.db");
    let writer = audit_core::AuditWriter::open(
        &path,
        WORKER,
        &secret(),
        audit_core::WriterConfig::default(),
    )
    .unwrap();
    for i in 1..=500 {
        writer.send_blocking(event(i)).unwrap();
    }
    writer.flush_blocking().unwrap();
    let mut signer = AuditLog::open(&path, WORKER, &secret()).unwrap();
    let appending = std::thread::scope(|scope| {
        let appender = scope.spawn(|| {
            for i in 501..=1500 {
                writer.send_blocking(event(i)).unwrap();
            }
            writer.flush_blocking()
        });
        let first = signer.signed_checkpoint(&log_key()).unwrap();
        (first, appender.join().unwrap())
    });
    let (first, flushed) = appending;
    flushed.unwrap();
    let second = signer.signed_checkpoint(&log_key()).unwrap();
    assert!(second.starts_with(&format!("{}\n1500\n", signer.origin().unwrap())));
    drop(signer);
    writer.shutdown_blocking().unwrap();
    assert!(public(&path, Some(&second), Some(&first)).is_none());
    assert!(verify(&path).is_ok());
}

/// AC-094: a log key that is not Ed25519 is an error naming the key by its
/// name and id only, never by its key bytes.
#[test]
fn ac_094_a_cosigner_vkey_as_the_log_key_is_refused_by_name_and_id() {
    let dir = tempfile::tempdir().unwrap();
    let (path, note) = signed_log(dir.path(), "cosigner-vkey.db", 3);
    let cosigner = log_key().to_cosigner().verifier_key();
    let err = verify_public(&path, &cosigner, Some(&note), None, &[], 0).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, AuditError::LogKey { .. }), "{text}");
    assert!(
        text.contains(&format!("{}+{}", cosigner.name(), cosigner.key_id())),
        "{text}"
    );
    // The base64 of the key is everything after name+id+ (it may hold a
    // '+' itself).
    let full = cosigner.to_string();
    let key_part = full
        .strip_prefix(&format!("{}+{}+", cosigner.name(), cosigner.key_id()))
        .unwrap();
    assert!(!text.contains(key_part), "{text}");
}

/// The base64 of `bytes` (standard, padded), for hand-made signature lines.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `note` with one more signature line, of an unknown key, making it
/// exactly `total` bytes long.
fn padded_note(note: &str, total: usize) -> String {
    // "— " (4 bytes), the name, a space, the base64, a newline.
    let need = total - note.len() - 4 - 1 - 1;
    let quads = (need - 1) / 4;
    let name = "p".repeat(need - 4 * quads);
    let line = format!("— {name} {}\n", base64(&vec![7u8; 3 * quads]));
    let padded = format!("{note}{line}");
    assert_eq!(padded.len(), total);
    padded
}

/// AC-092: every row of the stored checkpoints is checked when they are
/// read (`signed_checkpoints`) and verified (`verify`): its number, size,
/// root and note, the note's length (at most `MAX_CHECKPOINT_NOTE_BYTES`,
/// which a note of exactly that length is not over), the note's origin,
/// size and root each against the row's, and sizes never decreasing.
#[test]
fn ac_092_every_stored_checkpoint_row_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let refused = |name: &str, tamper: &dyn Fn(&rusqlite::Connection, &str), expected: &str| {
        let (path, note) = signed_log(dir.path(), name, 5);
        tamper(&attacker(&path), &note);
        let log = AuditLog::open_read(&path, WORKER, &secret()).unwrap();
        match log.signed_checkpoints() {
            Err(AuditError::Tree { detail }) => {
                assert!(detail.contains(expected), "{name}: {detail}");
            }
            other => panic!("{name}: {other:?}"),
        }
        let report = log.verify(None).unwrap();
        assert!(
            matches!(&report.failure, Some(f) if matches!(&f.reason, FailureReason::Structure { detail } if detail.contains(expected))),
            "{name}: {report:?}"
        );
    };
    let set = |sql: &'static str| {
        move |conn: &rusqlite::Connection, _: &str| {
            conn.execute_batch(sql).unwrap();
        }
    };
    let set_note = |note: String| {
        move |conn: &rusqlite::Connection, _: &str| {
            conn.execute("UPDATE checkpoints SET note = ?1 WHERE id = 1", [&note])
                .unwrap();
        }
    };
    refused(
        "renumbered.db",
        &set("UPDATE checkpoints SET id = 2 WHERE id = 1"),
        "where id 1 should come",
    );
    refused(
        "negative.db",
        &set("UPDATE checkpoints SET size = -1 WHERE id = 1"),
        "negative size -1",
    );
    refused(
        "short-root.db",
        &set("UPDATE checkpoints SET root = X'00' WHERE id = 1"),
        "the root is 1 bytes",
    );
    refused(
        "size.db",
        &set("UPDATE checkpoints SET size = 4 WHERE id = 1"),
        "is not the row's",
    );
    refused(
        "root.db",
        &set("UPDATE checkpoints SET root = zeroblob(32) WHERE id = 1"),
        "is not the row's",
    );
    refused(
        "not-a-note.db",
        &set("UPDATE checkpoints SET note = 'x' WHERE id = 1"),
        "is not a signed note",
    );
    refused(
        "not-a-checkpoint.db",
        &set_note(format!("hello\n\n— someone {}\n", base64(&[1; 68]))),
        "is not a checkpoint",
    );
    refused(
        "too-long.db",
        &|conn: &rusqlite::Connection, note: &str| {
            set_note(padded_note(note, MAX_CHECKPOINT_NOTE_BYTES + 1))(conn, note);
        },
        "the note is too long",
    );
    // Another origin's note of the same size and root.
    refused(
        "origin.db",
        &|conn: &rusqlite::Connection, note: &str| {
            let origin = audit_core::log_origin(WORKER).unwrap();
            set_note(note.replacen(&origin, "another.example/log", 1))(conn, note);
        },
        "is not the row's",
    );
    // Two checkpoints whose rows are swapped: the sizes go down.
    let (path, _) = signed_log(dir.path(), "swapped.db", 3);
    let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
    log.append_batch(&[event(4), event(5)]).unwrap();
    log.signed_checkpoint(&log_key()).unwrap();
    drop(log);
    attacker(&path)
        .execute_batch(
            "UPDATE checkpoints SET id = 3 WHERE id = 1; UPDATE checkpoints SET id = 1 WHERE id = 2; \
             UPDATE checkpoints SET id = 2 WHERE id = 3;",
        )
        .unwrap();
    let log = AuditLog::open_read(&path, WORKER, &secret()).unwrap();
    assert!(
        matches!(log.signed_checkpoints(), Err(AuditError::Tree { detail }) if detail.contains("signs 3 leaves after checkpoint 1 signed 5")),
    );

    // Two checkpoints of the same size (a second log key of the origin,
    // as in a key rotation): sizes that stay equal are not decreasing.
    let (path, _) = signed_log(dir.path(), "same-size.db", 5);
    let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
    log.signed_checkpoint(&key_for(WORKER, 0x23)).unwrap();
    let stored = log.signed_checkpoints().unwrap();
    assert_eq!(stored.iter().map(|c| c.size).collect::<Vec<_>>(), [5, 5]);
    assert!(log.verify(None).unwrap().is_ok());
    drop(log);

    // A note with 100 signature lines, each as long as a witness's
    // cosignature (key ID, timestamp, Ed25519 signature), is taken.
    let (path, note) = signed_log(dir.path(), "many.db", 5);
    let mut many = note.clone();
    for i in 0..99 {
        many.push_str(&format!(
            "— witness-{i:03}.example.org/log-witness {}\n",
            base64(&[9; 76])
        ));
    }
    set_note(many)(&attacker(&path), &note);
    let log = AuditLog::open_read(&path, WORKER, &secret()).unwrap();
    assert_eq!(log.signed_checkpoints().unwrap().len(), 1);

    // A note of exactly the limit is taken, the row intact otherwise.
    let (path, note) = signed_log(dir.path(), "at-limit.db", 5);
    set_note(padded_note(&note, MAX_CHECKPOINT_NOTE_BYTES))(&attacker(&path), &note);
    let log = AuditLog::open_read(&path, WORKER, &secret()).unwrap();
    let stored = log.signed_checkpoints().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].note.len(), MAX_CHECKPOINT_NOTE_BYTES);
    assert!(log.verify(None).unwrap().is_ok());
}

/// AC-093: a witness cosigns a stored checkpoint once: its second
/// cosignature (another timestamp) is not added beside the first, while a
/// second key under the same name is another cosigner and is added. A
/// note may grow to exactly `MAX_CHECKPOINT_NOTE_BYTES`, not one byte more.
#[test]
fn ac_093_a_witness_cosigns_once_and_the_note_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let (path, note) = signed_log(dir.path(), "a.db", 6);
    let w1 = witness("witness.example/one", 0x31);
    let w1_rotated = witness("witness.example/one", 0x41);
    let keys = [w1.verifier_key(), w1_rotated.verifier_key()];
    let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
    let request = log.add_checkpoint_request(0, None).unwrap().to_string();
    let first = witness_cosigns(&w1, &request, None, 1_700_000_000);
    let again = witness_cosigns(&w1, &request, None, 1_700_000_099);
    assert_ne!(first, again);
    let with_first = log.add_cosignatures(6, &first, &keys).unwrap();
    assert_eq!(with_first, format!("{note}{first}"));
    assert_eq!(log.add_cosignatures(6, &again, &keys).unwrap(), with_first);
    let rotated = witness_cosigns(&w1_rotated, &request, None, 1_700_000_100);
    assert_eq!(
        log.add_cosignatures(6, &rotated, &keys).unwrap(),
        format!("{with_first}{rotated}")
    );
    drop(log);

    // The limit: padded (by an unknown key's line) so that one
    // cosignature makes the note exactly the limit, or one byte over.
    for (name, over) in [("at.db", 0), ("over.db", 1)] {
        let (path, note) = signed_log(dir.path(), name, 6);
        let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
        let request = log.add_checkpoint_request(0, None).unwrap().to_string();
        let line = witness_cosigns(&w1, &request, None, 1_700_000_000);
        let padded = padded_note(&note, MAX_CHECKPOINT_NOTE_BYTES - line.len() + over);
        attacker(&path)
            .execute("UPDATE checkpoints SET note = ?1 WHERE id = 1", [&padded])
            .unwrap();
        let added = log.add_cosignatures(6, &line, &keys);
        if over == 0 {
            assert_eq!(added.unwrap().len(), MAX_CHECKPOINT_NOTE_BYTES);
        } else {
            assert!(
                matches!(&added, Err(AuditError::SignedCheckpoint { reason }) if reason.contains("too long")),
                "{added:?}"
            );
            assert_eq!(
                log.latest_signed_checkpoint().unwrap().unwrap().note,
                padded
            );
        }
    }
}

/// AC-111, AC-094, AC-095: `PublicLog`, with no secret, gives what the
/// secret holder's `AuditLog` gives: the file's identity, tree size and
/// roots, stored checkpoints, records one by one, in ranges and in the
/// export form, proofs and witness requests; opened `open` or `open_live`,
/// closed cleanly or beside a live writer. A log of schema 2 has no tree.
#[test]
fn ac_111_the_public_log_reads_what_the_secret_holder_reads() {
    use audit_core::PublicLog;
    let dir = tempfile::tempdir().unwrap();
    let (path, _note) = signed_log(dir.path(), "a.db", 37);
    let log = AuditLog::open_read(&path, WORKER, &secret()).unwrap();
    let all = records(&path);
    let size = log.tree_size().unwrap();
    assert_eq!(size, all.last().unwrap().seq);
    for public in [
        PublicLog::open(&path).unwrap(),
        PublicLog::open_live(&path).unwrap(),
    ] {
        assert_eq!(public.path(), path.as_path());
        assert_eq!(public.worker_id(), WORKER);
        assert_eq!(public.origin(), log.origin().unwrap());
        assert_eq!(public.tree_size().unwrap(), size);
        let stored = public.signed_checkpoints().unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored, log.signed_checkpoints().unwrap());
        for n in [0, 1, 20, size] {
            assert_eq!(
                public.tree_root(n).unwrap(),
                log.tree_root(n).unwrap(),
                "{n}"
            );
        }
        match public.tree_root(size + 1) {
            Err(AuditError::Proof { reason }) => {
                assert!(
                    reason.contains(&format!("holds {size} leaves, not {}", size + 1)),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            public.record(17).unwrap().as_ref(),
            all.iter().find(|r| r.seq == 17)
        );
        assert_eq!(public.record(size + 1).unwrap(), None);
        assert_eq!(public.records(5, 9).unwrap(), all[4..9]);
        assert_eq!(
            public.records(size - 1, size + 10).unwrap(),
            all[all.len() - 2..]
        );
        assert!(public.records(10, 9).unwrap().is_empty());
        // The export form: exactly serde_json of each record, a line each,
        // appended to what the buffer held.
        let mut out = b"kept\n".to_vec();
        assert_eq!(public.write_export(5, 9, &mut out).unwrap(), 5);
        let mut expected = b"kept\n".to_vec();
        for record in &all[4..9] {
            serde_json::to_writer(&mut expected, record).unwrap();
            expected.push(b'\n');
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            String::from_utf8(expected).unwrap()
        );
        let mut none = Vec::new();
        assert_eq!(
            public.write_export(size + 1, size + 9, &mut none).unwrap(),
            0
        );
        assert!(none.is_empty());
        assert_eq!(
            public.tlog_proof(17, None).unwrap().to_string(),
            log.tlog_proof(17, None).unwrap().to_string()
        );
        assert_eq!(
            public.add_checkpoint_request(20, None).unwrap().to_string(),
            log.add_checkpoint_request(20, None).unwrap().to_string()
        );
    }
    drop(log);

    // Beside a live writer (a `-wal` exists): the state at the first read.
    let mut writer = AuditLog::open(&path, WORKER, &secret()).unwrap();
    writer.append_batch(&[event(100)]).unwrap();
    assert!(path.with_file_name("a.db-wal").exists());
    let live = PublicLog::open_live(&path).unwrap();
    assert_eq!(live.tree_size().unwrap(), size + 1);
    assert_eq!(live.records(size + 1, size + 1).unwrap().len(), 1);
    writer.append_batch(&[event(101)]).unwrap();
    assert_eq!(live.tree_size().unwrap(), size + 1, "one read transaction");
    assert_eq!(
        PublicLog::open(&path).unwrap().tree_size().unwrap(),
        size + 2
    );
    drop(live);
    drop(writer);

    // Schema 2: no tree to serve.
    let old = build(dir.path(), "old.db", 3);
    downgrade_to_v2(&old);
    assert!(matches!(
        PublicLog::open(&old),
        Err(AuditError::Tree { .. })
    ));
    assert!(matches!(
        PublicLog::open_live(&old),
        Err(AuditError::Tree { .. })
    ));
}
