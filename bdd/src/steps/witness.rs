//! Steps of `witness.feature`: a real tlog-witness on 127.0.0.1 (the one
//! `vramctl`'s tests run, `test-support/witness_server.rs`) and the
//! worker's witness client, `audit_ship::witness`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use audit_core::tlog::{Checkpoint, Note};
use audit_core::{AuditLog, PublicFailure, PublicLog, log_origin, verify_public};
use audit_ship::witness::{Outcome, Witness};
use cucumber::{given, then, when};

use super::audit::db;
use super::transparency::vkey;
use crate::witness_server::TestWitness;
use crate::world::{ResidencyWorld, RunningWitness};

fn origin(world: &ResidencyWorld) -> String {
    log_origin(&world.worker().id).expect("an origin")
}

fn start(world: &mut ResidencyWorld, logs: &[(&str, audit_core::tlog::VerifierKey)]) {
    world.witness = Some(RunningWitness(TestWitness::start(
        "witness.example/w1",
        0x77,
        logs,
    )));
}

fn witness(world: &ResidencyWorld) -> &TestWitness {
    &world.witness.as_ref().expect("a witness").0
}

#[given(regex = r"^a witness that knows the worker's log key$")]
fn knows_key(world: &mut ResidencyWorld) {
    let (origin, vkey) = (origin(world), vkey(world));
    start(world, &[(&origin, vkey)]);
}

#[given(regex = r"^a witness that does not know the worker's log$")]
fn knows_nothing(world: &mut ResidencyWorld) {
    let other = audit_core::generate_log_key("another-worker").expect("a key");
    let origin = log_origin("another-worker").expect("an origin");
    start(world, &[(&origin, other.verifier_key())]);
}

#[given(regex = r"^a witness that knows another key for the worker's log$")]
fn knows_other_key(world: &mut ResidencyWorld) {
    let origin = origin(world);
    let other = audit_core::generate_log_key(&world.worker().id).expect("a key");
    start(world, &[(&origin, other.verifier_key())]);
}

/// Submits the worker's latest signed checkpoint to `client` with the
/// real witness client: its outcome and the checkpoint's size.
pub(crate) fn submit_latest_checkpoint(world: &ResidencyWorld, client: &Witness) -> (Outcome, u64) {
    let path = db(world);
    let worker = world.worker();
    let mut log = AuditLog::open(&path, &worker.id, &worker.secret).expect("open the log");
    let latest = log
        .latest_signed_checkpoint()
        .expect("read the checkpoints")
        .expect("a signed checkpoint");
    let outcome = audit_ship::witness::submit(
        &mut log,
        client,
        &latest.note,
        latest.size,
        Duration::from_secs(10),
    )
    .expect("the submission runs");
    (outcome, latest.size)
}

fn submit(world: &mut ResidencyWorld) {
    let client = Witness::new(&witness(world).url(), &witness(world).vkey()).expect("a witness");
    let (outcome, size) = submit_latest_checkpoint(world, &client);
    if matches!(outcome, Outcome::Cosigned { .. }) {
        world.cosigned_sizes.push(size);
    }
    world.witness_outcome = Some(outcome);
}

#[given(regex = r"^the worker submits its checkpoint to the witness$")]
fn submits_given(world: &mut ResidencyWorld) {
    submit(world);
    assert!(
        matches!(world.witness_outcome, Some(Outcome::Cosigned { .. })),
        "{:?}",
        world.witness_outcome
    );
}

#[when(regex = r"^the worker submits its checkpoint to the witness$")]
fn submits_when(world: &mut ResidencyWorld) {
    submit(world);
}

#[then(regex = r"^the witness cosigned the checkpoint and the log stores its cosignature$")]
fn cosigned(world: &mut ResidencyWorld) {
    assert!(
        matches!(
            world.witness_outcome,
            Some(Outcome::Cosigned { old: 0, .. })
        ),
        "{:?}",
        world.witness_outcome
    );
    let key = witness(world).vkey();
    let stored = PublicLog::open(db(world))
        .expect("open")
        .signed_checkpoints()
        .expect("read")
        .pop()
        .expect("a checkpoint");
    let note = Note::parse(stored.note.as_bytes()).expect("a note");
    let verified = note.verify(std::slice::from_ref(&key)).expect("cosigned");
    assert!(verified.signature_of(&key).is_some());
    let held = witness(world)
        .tree(&origin(world))
        .expect("the witness holds the log");
    assert_eq!(held.size, stored.size);
    let text = Checkpoint::from_text(note.text()).expect("a checkpoint");
    assert_eq!(&held.root, text.root());
}

#[then(
    regex = r"^verifying the audit log with only the log's public key and the witness's cosignature succeeds$"
)]
fn public_with_witness(world: &mut ResidencyWorld) {
    let (log_key, witness_key) = (vkey(world), witness(world).vkey());
    let report = verify_public(db(world), &log_key, None, None, &[witness_key], 1).expect("runs");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.cosigned_by.len(), 1, "{report:?}");
    // Another witness's cosignature is not there.
    let stranger = TestWitness::start("witness.example/w2", 0x78, &[]).vkey();
    let report = verify_public(db(world), &log_key, None, None, &[stranger], 1).expect("runs");
    assert!(
        matches!(report.failure, Some(PublicFailure::QuorumNotMet { .. })),
        "{report:?}"
    );
}

#[then(regex = r"^the witness raised an alarm with status (\d+)$")]
fn alarm(world: &mut ResidencyWorld, status: u16) {
    match &world.witness_outcome {
        Some(Outcome::Alarm {
            status: got,
            recorded,
            ..
        }) => {
            assert_eq!(*got, status);
            assert!(recorded.is_ok(), "{recorded:?}");
        }
        other => panic!("expected an alarm with status {status}: {other:?}"),
    }
}

#[then(regex = r"^the audit log holds a WitnessAlarm record naming the witness and status (\d+)$")]
fn alarm_record(world: &mut ResidencyWorld, status: u16) {
    let key = witness(world).vkey().to_string();
    let url = witness(world).url();
    let alarms: Vec<_> = world
        .records_now()
        .into_iter()
        .filter(|r| r.kind == "WitnessAlarm")
        .collect();
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    let event = &alarms[0].event;
    assert_eq!(event["status"], status, "{event}");
    assert_eq!(event["witness"], key.as_str(), "{event}");
    assert_eq!(event["url"], url.as_str(), "{event}");
    assert_eq!(alarms[0].severity, audit_core::Severity::Critical);
}

#[then(regex = r"^the witness still holds the checkpoint it cosigned first$")]
fn still_holds(world: &mut ResidencyWorld) {
    let first = *world.cosigned_sizes.first().expect("a cosigned checkpoint");
    let held = witness(world).tree(&origin(world)).expect("held");
    assert_eq!(held.size, first);
}
