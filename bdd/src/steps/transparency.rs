//! Steps of `transparency.feature`: signed checkpoints, verification with
//! the public key alone, proofs, and the attacks a kept checkpoint catches.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use audit_core::tlog::{SignerKey, VerifierKey};
use audit_core::{
    AuditEvent, AuditLog, PublicFailure, PublicLog, PublicReport, generate_log_key, leaf_hash,
    verify_public,
};
use cucumber::{given, then, when};

use super::audit::{attacker_connection, cut_tree_to_records, db};
use crate::world::ResidencyWorld;

/// The worker's log key, made at its first use.
pub(crate) fn log_key(world: &mut ResidencyWorld) -> SignerKey {
    let id = world.worker().id.clone();
    world
        .log_key
        .get_or_insert_with(|| generate_log_key(&id).expect("a log key"))
        .clone()
}

pub(crate) fn vkey(world: &mut ResidencyWorld) -> VerifierKey {
    log_key(world).verifier_key()
}

fn public_report(world: &mut ResidencyWorld, previous: Option<&str>) -> PublicReport {
    let vkey = vkey(world);
    verify_public(db(world), &vkey, None, previous, &[], 0).expect("public verification runs")
}

fn sign_checkpoint(world: &mut ResidencyWorld) -> String {
    let key = log_key(world);
    let worker = world.worker();
    let mut log = AuditLog::open(&worker.db, &worker.id, &worker.secret).expect("open the log");
    log.signed_checkpoint(&key).expect("sign a checkpoint")
}

#[given(regex = r"^the worker signs a checkpoint of its audit log with its log key$")]
fn signs(world: &mut ResidencyWorld) {
    let note = sign_checkpoint(world);
    assert!(note.starts_with("vram-residency/audit/"), "{note}");
}

#[given(regex = r"^an auditor keeps that signed checkpoint$")]
fn keeps_note(world: &mut ResidencyWorld) {
    let public = PublicLog::open(db(world)).expect("open without the secret");
    let latest = public
        .signed_checkpoints()
        .expect("read the checkpoints")
        .pop()
        .expect("a signed checkpoint");
    world.kept_note = Some(latest.note);
}

#[then(
    regex = r"^verifying the audit log with only the log's public key succeeds over all its records$"
)]
fn public_ok(world: &mut ResidencyWorld) {
    let report = public_report(world, None);
    assert!(report.is_ok(), "{report:?}");
    let records = world.records_now();
    assert!(!records.is_empty());
    assert_eq!(report.records_checked, records.len() as u64, "{report:?}");
    assert_eq!(report.tree_size, records.len() as u64, "{report:?}");
    assert_eq!(report.checkpoint_size, Some(records.len() as u64));
}

fn failure(report: &PublicReport) -> &PublicFailure {
    report
        .failure
        .as_ref()
        .unwrap_or_else(|| panic!("public verification passed: {report:?}"))
}

#[then(
    regex = r"^verifying the audit log with only the log's public key fails because it has no checkpoint$"
)]
fn public_no_checkpoint(world: &mut ResidencyWorld) {
    let report = public_report(world, None);
    assert!(
        matches!(failure(&report), PublicFailure::NoCheckpoint),
        "{report:?}"
    );
}

#[then(
    regex = r"^verifying the audit log with only the log's public key fails at record (\d+) because its leaf is not the stored one$"
)]
fn public_leaf(world: &mut ResidencyWorld, seq: u64) {
    let report = public_report(world, None);
    match failure(&report) {
        PublicFailure::LeafMismatch { seq: at } => assert_eq!(*at, seq, "{report:?}"),
        other => panic!("expected a leaf mismatch at {seq}: {other:?}"),
    }
}

#[then(
    regex = r"^verifying the audit log with another log key fails because the checkpoint is not signed by it$"
)]
fn public_other_key(world: &mut ResidencyWorld) {
    let id = world.worker().id.clone();
    let other = generate_log_key(&id).expect("another key").verifier_key();
    let report = verify_public(db(world), &other, None, None, &[], 0).expect("runs");
    assert!(
        matches!(failure(&report), PublicFailure::CheckpointRejected { .. }),
        "{report:?}"
    );
}

#[when(regex = r#"^the worker proves that its VramSealed record for "([^"]*)" is in the log$"#)]
fn proves(world: &mut ResidencyWorld, shard: String) {
    let public = PublicLog::open(db(world)).expect("open without the secret");
    let record = world
        .records_now()
        .into_iter()
        .find(|r| r.kind == "VramSealed" && r.shard_id.as_deref() == Some(shard.as_str()))
        .expect("the VramSealed record");
    // The leaf index of record `seq` is `seq - 1`.
    let proof = public.tlog_proof(record.seq, None).expect("a proof");
    assert_eq!(proof.index(), record.seq - 1);
    // What the worker hands over is text; the model owner parses it.
    let proof = audit_core::tlog::TlogProof::parse(&proof.to_bytes()).expect("parse the proof");
    world.proof = Some((proof, record));
}

#[then(regex = r"^the proof verifies with only the log's public key$")]
fn proof_ok(world: &mut ResidencyWorld) {
    let vkey = vkey(world);
    let (proof, record) = world.proof.as_ref().expect("a proof");
    let leaf = leaf_hash(record).expect("a leaf");
    let origin = audit_core::log_origin(&record.worker_id).expect("an origin");
    proof
        .verify_log_signature(&leaf, &origin, &vkey)
        .expect("the proof verifies");
}

#[then(regex = r"^the proof does not verify for the same record with other contents$")]
fn proof_other_contents(world: &mut ResidencyWorld) {
    let vkey = vkey(world);
    let (proof, record) = world.proof.as_ref().expect("a proof");
    let origin = audit_core::log_origin(&record.worker_id).expect("an origin");
    let mut other = record.clone();
    other.event["bytes"] = serde_json::json!(1);
    let leaf = leaf_hash(&other).expect("a leaf");
    assert!(proof.verify_log_signature(&leaf, &origin, &vkey).is_err());
}

#[when(
    regex = r"^an attacker holding the host's secret and log key rewrites the log after record (\d+) and signs it again$"
)]
fn rewrites(world: &mut ResidencyWorld, keep: i64) {
    let path = db(world);
    let conn = attacker_connection(&path);
    conn.execute_batch("DROP TRIGGER IF EXISTS checkpoints_no_delete; DELETE FROM checkpoints;")
        .expect("drop the stored checkpoints");
    conn.execute("DELETE FROM records WHERE seq > ?1", [keep])
        .expect("cut the records");
    cut_tree_to_records(&conn);
    drop(conn);
    let worker = world.worker();
    let mut log = AuditLog::open(&path, &worker.id, &worker.secret).expect("reopen");
    for _ in 0..3 {
        log.append(&AuditEvent::seal_verified("m:0", 0))
            .expect("append the forged history");
    }
    drop(log);
    sign_checkpoint(world);
}

#[then(regex = r"^the rewritten log verifies with only the log's public key on its own$")]
fn rewritten_alone(world: &mut ResidencyWorld) {
    let report = public_report(world, None);
    assert!(report.is_ok(), "{report:?}");
}

#[then(
    regex = r"^verifying it with the auditor's checkpoint as the previous one fails as inconsistent$"
)]
fn inconsistent(world: &mut ResidencyWorld) {
    let kept = world.kept_note.clone().expect("a kept checkpoint");
    let report = public_report(world, Some(&kept));
    assert!(
        matches!(failure(&report), PublicFailure::Inconsistent { .. }),
        "{report:?}"
    );
}

#[then(
    regex = r"^verifying it with the auditor's checkpoint as the previous one fails as a rollback$"
)]
fn rolled_back(world: &mut ResidencyWorld) {
    let kept = world.kept_note.clone().expect("a kept checkpoint");
    let report = public_report(world, Some(&kept));
    assert!(
        matches!(failure(&report), PublicFailure::RolledBack { .. }),
        "{report:?}"
    );
}
