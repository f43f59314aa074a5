//! The known answers of the wire format (spec `AC-085`): every value in
//! `tests/vectors/audit-wire.json`, computed by an independent Python
//! implementation of `.specs/audit-core.md` ("Wire format", `AC-070` to
//! `AC-084`; `tests/vectors/gen_audit_vectors.py`), reproduced through the
//! crate: keys, genesis, record encodings and MACs, event JSON, NDJSON
//! lines, anchors, checkpoint messages, signatures and files. The records
//! also verify as an export and as an SQLite file built from the vectors
//! alone, so a third party's writer or verifier that follows the spec
//! agrees with this one.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use audit_core::{
    APPLICATION_ID, AuditEvent, AuditRecord, Checkpoint, CheckpointPublicKey, CheckpointSigner,
    FailureReason, Severity, VerifyReport, verify_log, verify_log_against_checkpoint,
    verify_ndjson, wire,
};
use chrono::DateTime;
use ed25519_dalek::Signer as _;
use seal_crypto::{Digest, SealKey, WorkerSecret, context};
use serde_json::Value;

fn vectors() -> Value {
    let path = format!(
        "{}/tests/vectors/audit-wire.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn hex_of(v: &Value) -> Vec<u8> {
    hex(v.as_str().unwrap())
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn secret(file: &Value) -> WorkerSecret {
    WorkerSecret::new(&hex_of(&file["worker_secret_hex"])).unwrap()
}

fn worker(file: &Value) -> &str {
    file["worker_id"].as_str().unwrap()
}

fn chain_key(file: &Value) -> SealKey {
    SealKey::from_bytes(&hex_of(&file["keys"]["audit_chain_key_hex"])).unwrap()
}

/// The event a record vector was made from, through the typed constructors.
fn event_of(record: &Value) -> AuditEvent {
    let a = &record["args"];
    let s = |k: &str| a[k].as_str().unwrap();
    let n = |k: &str| a[k].as_u64().unwrap();
    let event = match record["constructor"].as_str().unwrap() {
        "vram_sealed" => {
            let digest: Digest = s("digest").parse().unwrap();
            AuditEvent::vram_sealed(s("shard_id"), n("device") as u32, n("bytes"), &digest)
        }
        "vram_allocation_failed" => AuditEvent::vram_allocation_failed(
            n("requested"),
            n("available"),
            s("reason"),
            n("device") as u32,
        ),
        "custom" => AuditEvent::custom(
            s("kind"),
            s("severity").parse().unwrap(),
            a["shard_id"].as_str(),
            a["payload"].clone(),
        )
        .unwrap(),
        other => panic!("no constructor {other}"),
    };
    event.with_timestamp(DateTime::from_timestamp_nanos(
        record["ts_ns"].as_i64().unwrap(),
    ))
}

fn ndjson(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn lines(file: &Value) -> Vec<String> {
    file["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ndjson_line"].as_str().unwrap().to_owned())
        .collect()
}

/// AC-071 (and AC-084): the audit-chain key and the checkpoint seed are
/// HKDF-SHA256 of the worker secret (the secret file minus one trailing
/// `\n`, its hex text not decoded) under the listed salt and contexts; the
/// checkpoint public key is the Ed25519 key of that seed.
#[test]
fn ac_071_keys_from_the_worker_secret() {
    let file = vectors();
    let keys = &file["keys"];
    let secret_file = hex_of(&file["secret_file_hex"]);
    assert_eq!(secret_file.last(), Some(&b'\n'));
    assert_eq!(
        hex_of(&file["worker_secret_hex"]),
        secret_file[..secret_file.len() - 1]
    );
    assert_eq!(keys["audit_chain_context"], context::AUDIT_CHAIN);
    assert_eq!(keys["audit_checkpoint_context"], context::AUDIT_CHECKPOINT);
    let secret = secret(&file);
    assert_eq!(
        secret.derive_bytes(context::AUDIT_CHAIN).unwrap().to_vec(),
        hex_of(&keys["audit_chain_key_hex"])
    );
    let seed = secret.derive_bytes(context::AUDIT_CHECKPOINT).unwrap();
    assert_eq!(seed.to_vec(), hex_of(&keys["checkpoint_seed_hex"]));
    let public = keys["checkpoint_public_key_hex"].as_str().unwrap();
    let derived = CheckpointSigner::derive(&secret).unwrap().public_key();
    assert_eq!(derived.to_string(), public);
    assert_eq!(CheckpointSigner::from_seed(&seed).public_key(), derived);
    assert_eq!(public.parse::<CheckpointPublicKey>().unwrap(), derived);
}

/// AC-070, AC-074: the genesis encoding and value, and record 1 links to it.
#[test]
fn ac_074_genesis_of_the_worker_id() {
    let file = vectors();
    let genesis = &file["genesis"];
    assert_eq!(
        wire::genesis_encoding(worker(&file)),
        hex_of(&genesis["encoding_hex"])
    );
    let mac = wire::genesis_mac(&secret(&file), worker(&file)).unwrap();
    assert_eq!(mac.to_vec(), hex_of(&genesis["mac_hex"]));
    assert_eq!(file["records"][0]["prev_mac_hex"], genesis["mac_hex"]);
    assert_ne!(
        wire::genesis_mac(&secret(&file), "another-worker").unwrap(),
        mac
    );
}

/// AC-072, AC-073, AC-075, AC-080: each record's event JSON is what the
/// typed constructor serializes; its NDJSON line parses to the listed
/// fields and is written back byte for byte; its canonical encoding and
/// MAC are the listed ones; each links to the one before.
#[test]
fn ac_072_records_encode_and_mac_as_specified() {
    let file = vectors();
    let key = chain_key(&file);
    let records = file["records"].as_array().unwrap();
    assert_eq!(records.len(), 3);
    let mut prev = hex_of(&file["genesis"]["mac_hex"]);
    let mut shard_seen = (false, false);
    for (index, v) in records.iter().enumerate() {
        let name = v["name"].as_str().unwrap();
        // AC-073: the event as the code builds and serializes it.
        let event = event_of(v);
        assert_eq!(event.kind(), v["kind"], "{name}");
        assert_eq!(event.severity().as_str(), v["severity"], "{name}");
        assert_eq!(event.severity().rank(), v["severity_rank"], "{name}");
        assert_eq!(event.shard_id(), v["shard_id"].as_str(), "{name}");
        let event_json = v["event_json"].as_str().unwrap();
        assert_eq!(
            serde_json::to_string(event.payload()).unwrap(),
            event_json,
            "{name}: event JSON"
        );

        // AC-080: the export line, read and written back unchanged.
        let line = v["ndjson_line"].as_str().unwrap();
        let record: AuditRecord = serde_json::from_str(line).unwrap();
        assert_eq!(serde_json::to_string(&record).unwrap(), line, "{name}");
        assert_eq!(record.seq, index as u64 + 1);
        assert_eq!(record.seq, v["seq"].as_u64().unwrap());
        assert_eq!(record.id.to_string(), v["id"].as_str().unwrap());
        assert_eq!(record.id.as_bytes().to_vec(), hex_of(&v["id_hex"]));
        assert_eq!(record.id.get_version_num(), 7, "{name}: UUID v7");
        assert_eq!(record.timestamp, event.timestamp());
        assert_eq!(
            record.timestamp.timestamp_nanos_opt(),
            v["ts_ns"].as_i64(),
            "{name}"
        );
        assert_eq!(
            serde_json::to_value(record.timestamp).unwrap(),
            v["timestamp"]
        );
        assert_eq!(record.kind, event.kind());
        assert_eq!(record.severity, event.severity());
        assert_eq!(record.worker_id, worker(&file));
        assert_eq!(record.shard_id.as_deref(), event.shard_id());
        assert_eq!(&record.event, event.payload());
        assert_eq!(record.prev_mac, v["prev_mac_hex"].as_str().unwrap());
        assert_eq!(record.mac, v["mac_hex"].as_str().unwrap());

        // AC-072: the encoding and the MAC; AC-075: the link.
        let encoding = hex_of(&v["encoding_hex"]);
        assert_eq!(
            wire::record_encoding(&record).unwrap(),
            encoding,
            "{name}: encoding"
        );
        let mac = hex_of(&v["mac_hex"]);
        assert_eq!(key.mac(&encoding).to_vec(), mac, "{name}: MAC");
        assert_eq!(hex_of(&v["prev_mac_hex"]), prev, "{name}: link");
        prev = mac;
        match record.shard_id {
            Some(_) => shard_seen.0 = true,
            None => shard_seen.1 = true,
        }
    }
    assert_eq!(shard_seen, (true, true), "with and without a shard id");
}

/// AC-080, AC-082, AC-081 (6): the export of the three records verifies
/// from genesis; an edited `prev_mac` is a broken link (at record 1 the
/// wrong genesis), not a MAC mismatch; an edited event is a MAC mismatch;
/// another worker id is the wrong genesis.
#[test]
fn ac_082_the_export_verifies_and_names_each_edit() {
    let file = vectors();
    let secret = secret(&file);
    let worker = worker(&file);
    let lines = lines(&file);
    let check = |lines: &[String], worker: &str| -> VerifyReport {
        verify_ndjson(ndjson(lines).as_bytes(), worker, &secret).unwrap()
    };
    let report = check(&lines, worker);
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.records_checked, 3);
    assert_eq!((report.first_seq, report.last_seq), (Some(1), Some(3)));
    assert_eq!(
        report.head_mac.as_deref(),
        file["records"][2]["mac_hex"].as_str()
    );

    let edited = |index: usize, edit: &dyn Fn(&mut AuditRecord)| -> Vec<String> {
        let mut out = lines.clone();
        let mut record: AuditRecord = serde_json::from_str(&out[index]).unwrap();
        edit(&mut record);
        out[index] = serde_json::to_string(&record).unwrap();
        out
    };
    let failure = |report: VerifyReport| {
        let f = report.failure.expect("a failure");
        (f.seq, f.reason)
    };
    let genesis = file["genesis"]["mac_hex"].as_str().unwrap().to_owned();
    assert_eq!(
        failure(check(&edited(1, &|r| r.prev_mac = genesis.clone()), worker)),
        (Some(2), FailureReason::BrokenLink)
    );
    assert_eq!(
        failure(check(&edited(0, &|r| r.prev_mac = "00".repeat(32)), worker)),
        (Some(1), FailureReason::WrongGenesis)
    );
    assert_eq!(
        failure(check(&edited(1, &|r| r.event["device"] = 2.into()), worker)),
        (Some(2), FailureReason::MacMismatch)
    );
    assert_eq!(
        failure(check(
            &edited(2, &|r| r.severity = Severity::Critical),
            worker
        )),
        (Some(3), FailureReason::MacMismatch)
    );
    assert_eq!(
        failure(check(&lines, "another-worker")),
        (Some(1), FailureReason::WrongGenesis)
    );
    // An export of a later range trusts its first record's link.
    let tail = check(&lines[1..], "another-worker");
    assert!(tail.is_ok(), "{tail:?}");
}

/// AC-076: anchor encodings and MACs, version 1 (seq, mac) in a schema-1
/// file and version 2 (also dropped, ts_ns) in a schema-2 file.
#[test]
fn ac_076_anchor_macs_v1_and_v2() {
    let file = vectors();
    let secret = secret(&file);
    let anchors = file["anchors"].as_array().unwrap();
    let mut versions = Vec::new();
    for a in anchors {
        let name = a["name"].as_str().unwrap();
        let version = a["schema_version"].as_i64().unwrap();
        let (seq, mac) = (a["seq"].as_u64().unwrap(), hex_of(&a["mac_hex"]));
        let (dropped, ts_ns) = (a["dropped"].as_i64().unwrap(), a["ts_ns"].as_i64().unwrap());
        assert_eq!(
            file["records"][seq as usize - 1]["mac_hex"],
            a["mac_hex"],
            "{name}: the anchor holds the last dropped record's MAC"
        );
        let encoding = hex_of(&a["encoding_hex"]);
        assert_eq!(
            wire::anchor_encoding(worker(&file), version, seq, &mac, dropped, ts_ns),
            encoding,
            "{name}: encoding"
        );
        assert_eq!(
            wire::anchor_mac(&secret, worker(&file), version, seq, &mac, dropped, ts_ns)
                .unwrap()
                .to_vec(),
            hex_of(&a["anchor_mac_hex"]),
            "{name}: MAC"
        );
        assert_eq!(
            chain_key(&file).mac(&encoding).to_vec(),
            hex_of(&a["anchor_mac_hex"])
        );
        versions.push(version);
    }
    assert_eq!(versions, [1, 2]);
}

/// An audit log file written from the vectors alone (AC-077): plain
/// tables, the header, the three `meta` rows, the given records and anchor.
fn write_log(path: &Path, file: &Value, schema: i64, records: &[usize], anchor: Option<&Value>) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_update(None, "application_id", APPLICATION_ID)
        .unwrap();
    conn.pragma_update(None, "user_version", schema).unwrap();
    conn.execute_batch(
        "CREATE TABLE meta (key TEXT, value TEXT);
         CREATE TABLE records (seq INTEGER, id BLOB, ts_ns INTEGER, kind TEXT, severity INTEGER,
             worker_id TEXT, shard_id TEXT, event TEXT, prev_mac BLOB, mac BLOB);
         CREATE TABLE anchors (seq INTEGER, mac BLOB, dropped INTEGER, ts_ns INTEGER, anchor_mac BLOB);",
    )
    .unwrap();
    conn.execute(
        "INSERT INTO meta VALUES ('worker_id', ?1), ('created_ns', '1700000000000000000'), ('schema_version', ?2)",
        rusqlite::params![worker(file), schema.to_string()],
    )
    .unwrap();
    for &index in records {
        let r = &file["records"][index];
        conn.execute(
            "INSERT INTO records VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            rusqlite::params![
                r["seq"].as_i64().unwrap(),
                hex_of(&r["id_hex"]),
                r["ts_ns"].as_i64().unwrap(),
                r["kind"].as_str().unwrap(),
                r["severity_rank"].as_i64().unwrap(),
                r["worker_id"].as_str().unwrap(),
                r["shard_id"].as_str(),
                r["event_json"].as_str().unwrap(),
                hex_of(&r["prev_mac_hex"]),
                hex_of(&r["mac_hex"]),
            ],
        )
        .unwrap();
    }
    if let Some(a) = anchor {
        conn.execute(
            "INSERT INTO anchors VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![
                a["seq"].as_i64().unwrap(),
                hex_of(&a["mac_hex"]),
                a["dropped"].as_i64().unwrap(),
                a["ts_ns"].as_i64().unwrap(),
                hex_of(&a["anchor_mac_hex"]),
            ],
        )
        .unwrap();
    }
}

/// AC-077, AC-081, AC-075, AC-076: a log file built from the vectors alone
/// verifies: whole from genesis, and after retention from a version-2
/// anchor (schema 2) or a version-1 anchor (schema 1). The anchor version
/// follows the schema; an edited `prev_mac` is a broken link.
#[test]
fn ac_081_a_log_file_built_from_the_spec_verifies() {
    let file = vectors();
    let secret = secret(&file);
    let worker = worker(&file);
    let dir = tempfile::tempdir().unwrap();
    let anchors = file["anchors"].as_array().unwrap();
    let (v1, v2) = (&anchors[0], &anchors[1]);
    let verify = |name: &str, schema: i64, records: &[usize], anchor: Option<&Value>| {
        let path = dir.path().join(name);
        write_log(&path, &file, schema, records, anchor);
        verify_log(&path, worker, &secret, None).unwrap()
    };

    for schema in [1, 2] {
        let report = verify(&format!("whole-{schema}.db"), schema, &[0, 1, 2], None);
        assert!(report.is_ok(), "{report:?}");
        assert_eq!(report.records_checked, 3);
        assert_eq!(
            report.head_mac.as_deref(),
            file["records"][2]["mac_hex"].as_str()
        );
    }
    for (schema, anchor) in [(1, v1), (2, v2)] {
        let report = verify(&format!("anchored-{schema}.db"), schema, &[2], Some(anchor));
        assert!(report.is_ok(), "schema {schema}: {report:?}");
        assert_eq!((report.first_seq, report.records_checked), (Some(3), 1));
    }
    // Each anchor version verifies only in a file of its schema.
    for (schema, anchor) in [(2, v1), (1, v2)] {
        let report = verify(&format!("crossed-{schema}.db"), schema, &[2], Some(anchor));
        let failure = report.failure.unwrap();
        assert_eq!(
            (failure.seq, failure.reason),
            (Some(2), FailureReason::BadAnchor)
        );
    }

    // AC-081 (6c before 6d): an edited prev_mac is a broken link.
    let path = dir.path().join("edited.db");
    write_log(&path, &file, 2, &[0, 1, 2], None);
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE records SET prev_mac = zeroblob(32) WHERE seq = 2",
            [],
        )
        .unwrap();
    let failure = verify_log(&path, worker, &secret, None)
        .unwrap()
        .failure
        .unwrap();
    assert_eq!(
        (failure.seq, failure.reason),
        (Some(2), FailureReason::BrokenLink)
    );
}

/// AC-078, AC-079, AC-083: each checkpoint file parses to the listed
/// fields and is written back byte for byte; its signed message is the
/// listed encoding; its signature is the deterministic Ed25519 signature of
/// that message under the derived seed and verifies under the derived
/// public key; the one after record 3 verifies the log built from the
/// vectors; any edit is refused.
#[test]
fn ac_078_checkpoints_sign_the_specified_message() {
    let file = vectors();
    let secret = secret(&file);
    let worker = worker(&file);
    let signer = CheckpointSigner::derive(&secret).unwrap();
    let key = signer.public_key();
    let seed: [u8; 32] = hex_of(&file["keys"]["checkpoint_seed_hex"])
        .try_into()
        .unwrap();
    let dalek = ed25519_dalek::SigningKey::from_bytes(&seed);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.db");
    write_log(&log, &file, 2, &[0, 1, 2], None);

    let checkpoints = file["checkpoints"].as_array().unwrap();
    assert_eq!(checkpoints.len(), 2);
    for v in checkpoints {
        let name = v["name"].as_str().unwrap();
        let text = v["file_text"].as_str().unwrap();
        let checkpoint = Checkpoint::from_json(text).unwrap();
        assert_eq!(checkpoint.to_json().unwrap(), text, "{name}: file form");
        assert_eq!(checkpoint.version, audit_core::CHECKPOINT_VERSION);
        assert_eq!(checkpoint.worker_id, worker);
        assert_eq!(checkpoint.last_seq, v["last_seq"].as_u64().unwrap());
        assert_eq!(checkpoint.head_mac, v["head_mac_hex"].as_str().unwrap());
        assert_eq!(checkpoint.record_count, v["record_count"].as_u64().unwrap());
        assert_eq!(
            checkpoint.created_at.timestamp_nanos_opt(),
            v["created_ns"].as_i64()
        );
        assert_eq!(checkpoint.public_key, key.to_string());
        assert_eq!(checkpoint.signature, v["signature_hex"].as_str().unwrap());

        let message = hex_of(&v["signed_message_hex"]);
        assert_eq!(
            wire::checkpoint_message(&checkpoint).unwrap(),
            message,
            "{name}: signed message"
        );
        assert_eq!(
            to_hex(&dalek.sign(&message).to_bytes()),
            checkpoint.signature,
            "{name}: signature"
        );
        checkpoint.verify(&key).unwrap();

        let mut forged = checkpoint.clone();
        forged.record_count += 1;
        assert!(forged.verify(&key).is_err(), "{name}");
        let mut forged = checkpoint.clone();
        forged.signature.replace_range(0..2, "ff");
        assert!(forged.verify(&key).is_err(), "{name}");
    }
    let empty = Checkpoint::from_json(checkpoints[1]["file_text"].as_str().unwrap()).unwrap();
    assert_eq!(
        (empty.last_seq, empty.head_mac.as_str()),
        (0, file["genesis"]["mac_hex"].as_str().unwrap())
    );
    let after_3 = Checkpoint::from_json(checkpoints[0]["file_text"].as_str().unwrap()).unwrap();
    assert_eq!(
        after_3.head_mac,
        file["records"][2]["mac_hex"].as_str().unwrap()
    );
    let report = verify_log_against_checkpoint(&log, worker, &secret, &after_3, &key).unwrap();
    assert!(report.is_ok(), "{report:?}");
}

/// AC-086: the leaf of each vector record, derived from the vectors alone:
/// the record's `AC-072` encoding with its domain header replaced by
/// `vram-residency/audit-leaf` (version 1) and its MAC appended as field
/// 11, hashed as an RFC 6962 leaf. Equal to the leaf the crate computes
/// from the NDJSON line, and to the leaf the log stores for a file built
/// from the vectors and migrated.
#[test]
fn ac_086_leaf_of_each_vector_record() {
    let file = vectors();
    let record_domain = b"vram-residency/audit-record";
    let leaf_domain = b"vram-residency/audit-leaf";
    let header = 8 + record_domain.len() + 2;
    let mut leaves = Vec::new();
    for r in file["records"].as_array().unwrap() {
        let encoding = hex_of(&r["encoding_hex"]);
        assert_eq!(&encoding[8..header - 2], record_domain);
        let mut data = (leaf_domain.len() as u64).to_be_bytes().to_vec();
        data.extend_from_slice(leaf_domain);
        data.extend_from_slice(&[0, 1]);
        data.extend_from_slice(&encoding[header..]);
        data.push(11);
        data.extend_from_slice(&32u64.to_be_bytes());
        data.extend_from_slice(&hex_of(&r["mac_hex"]));
        let mut hashed = vec![0u8];
        hashed.extend_from_slice(&data);
        let leaf = seal_crypto::sha256(&hashed);
        let record: audit_core::AuditRecord =
            serde_json::from_str(r["ndjson_line"].as_str().unwrap()).unwrap();
        let computed = audit_core::leaf_hash(&record).unwrap();
        assert_eq!(computed.as_bytes(), leaf.as_bytes(), "{}", r["name"]);
        leaves.push(computed);
    }
    // A schema-2 file built from the vectors, migrated on opening.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("migrated.db");
    write_log(&path, &file, 2, &[0, 1, 2], None);
    let log = audit_core::AuditLog::open(&path, worker(&file), &secret(&file)).unwrap();
    assert_eq!(log.tree_size().unwrap(), 3);
    for seq in 1..=3u64 {
        assert_eq!(log.leaf_hash(seq).unwrap(), leaves[seq as usize - 1]);
    }
    assert_eq!(
        log.tree_root(3).unwrap(),
        audit_core::tlog::merkle_root(&leaves)
    );
}

/// AC-089: schema-1 files built from the vectors: without an anchor one is
/// migrated to schema 3 on opening for writing (and verifies, and goes on);
/// with a (version-1) anchor it is refused and left as it was.
#[test]
fn ac_089_schema_1_files_and_migration() {
    let file = vectors();
    let (secret, worker) = (secret(&file), worker(&file));
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("v1.db");
    write_log(&plain, &file, 1, &[0, 1, 2], None);
    let mut log = audit_core::AuditLog::open(&plain, worker, &secret).unwrap();
    assert_eq!(log.tree_size().unwrap(), 3);
    log.append(&audit_core::AuditEvent::seal_verified("shard-x", 0))
        .unwrap();
    drop(log);
    assert!(verify_log(&plain, worker, &secret, None).unwrap().is_ok());
    // The migrated file has schema 2's insert triggers too (AC-012).
    let conn = rusqlite::Connection::open(&plain).unwrap();
    for trigger in [
        "meta_no_insert",
        "anchors_only_retention",
        "records_append_only",
    ] {
        let n: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND name = ?1",
                [trigger],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "{trigger}");
    }
    let refused = conn
        .execute_batch(
            "INSERT INTO records VALUES (9, randomblob(16), 0, 'X', 0, 'w', NULL, '{}', randomblob(32), randomblob(32))",
        )
        .unwrap_err();
    assert!(refused.to_string().contains("refused"), "{refused}");
    drop(conn);

    let anchored = dir.path().join("v1-anchor.db");
    let v1_anchor = &file["anchors"][0];
    write_log(&anchored, &file, 1, &[2], Some(v1_anchor));
    assert!(
        verify_log(&anchored, worker, &secret, None)
            .unwrap()
            .is_ok()
    );
    let error = audit_core::AuditLog::open(&anchored, worker, &secret).unwrap_err();
    assert!(
        matches!(
            error,
            audit_core::AuditError::Migration { from: 1, to: 3, .. }
        ),
        "{error:?}"
    );
    let version: i64 = rusqlite::Connection::open(&anchored)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 1);
    assert!(
        verify_log(&anchored, worker, &secret, None)
            .unwrap()
            .is_ok()
    );
}
