//! Steps shared by several features: starting a worker, sealing, freeing,
//! the worker's state and holdings, errors, and the audit events.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use audit_core::Severity;
use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use gpu_alloc::HostDeviceConfig;
use vram_residency::{ResidencyError, SealOptions, WorkerState};

use crate::world::{ResidencyWorld, WorkerSpec, parse_size};

#[given(regex = r"^a ready worker$")]
fn ready_worker(world: &mut ResidencyWorld) {
    let worker = world.start(&WorkerSpec::first());
    world.worker = Some(worker);
}

#[given(regex = r"^a ready worker on a simulated device of (\d+ (?:MiB|KiB|bytes?))$")]
fn ready_worker_on_simulated(world: &mut ResidencyWorld, capacity: String) {
    let spec = WorkerSpec {
        simulated: Some(HostDeviceConfig::with_capacity(parse_size(&capacity))),
        ..WorkerSpec::first()
    };
    let worker = world.start(&spec);
    world.worker = Some(worker);
}

#[given(regex = r"^a ready worker that accepts models of at most (\d+ (?:MiB|KiB|bytes?))$")]
fn ready_worker_with_limit(world: &mut ResidencyWorld, limit: String) {
    let spec = WorkerSpec {
        max_model_bytes: Some(parse_size(&limit)),
        ..WorkerSpec::first()
    };
    let worker = world.start(&spec);
    world.worker = Some(worker);
}

#[given(regex = r"^a worker that has not yet checked the residency policy$")]
fn worker_not_checked(world: &mut ResidencyWorld) {
    let spec = WorkerSpec {
        enforce_policy: false,
        ..WorkerSpec::first()
    };
    let worker = world.start(&spec);
    world.worker = Some(worker);
}

#[given(regex = r#"^the worker has sealed (\d+ (?:MiB|KiB|bytes?)) of weights as "([^"]*)"$"#)]
fn has_sealed(world: &mut ResidencyWorld, size: String, id: String) {
    world.seal(&id, parse_size(&size), SealOptions::default());
    assert!(
        matches!(world.last.seal, Some(Ok(_))),
        "sealing {id:?} failed: {:?}",
        world.last.seal
    );
}

#[when(regex = r#"^the worker seals (\d+ (?:MiB|KiB|bytes?)) of weights as "([^"]*)"$"#)]
fn seals(world: &mut ResidencyWorld, size: String, id: String) {
    has_sealed(world, size, id);
}

#[when(regex = r#"^the worker tries to seal (\d+ (?:MiB|KiB|bytes?)) of weights as "([^"]*)"$"#)]
fn tries_to_seal(world: &mut ResidencyWorld, size: String, id: String) {
    world.seal(&id, parse_size(&size), SealOptions::default());
}

#[when(regex = r#"^the worker frees "([^"]*)"$"#)]
fn frees(world: &mut ResidencyWorld, id: String) {
    let shard = world
        .worker_mut()
        .shards
        .remove(&id)
        .unwrap_or_else(|| panic!("no sealed shard {id:?}"));
    drop(shard);
}

#[when(regex = r"^the worker frees every shard$")]
fn frees_all(world: &mut ResidencyWorld) {
    world.worker_mut().shards.clear();
}

#[then(regex = r"^the seal succeeds$")]
fn seal_succeeds(world: &mut ResidencyWorld) {
    match &world.last.seal {
        Some(Ok(_)) => {}
        other => panic!("the seal did not succeed: {other:?}"),
    }
}

#[then(regex = r"^the worker holds no device memory$")]
fn holds_nothing(world: &mut ResidencyWorld) {
    let capacity = world.manager().capacity().expect("capacity");
    assert_eq!(capacity.used_by_shards, 0, "{capacity:?}");
    assert_eq!(capacity.shard_count, 0, "{capacity:?}");
    assert!(world.worker().shards.is_empty());
    if let Some(host) = &world.worker().host {
        assert_eq!(
            host.live_buffer_count(),
            0,
            "a device buffer is still alive"
        );
        assert_eq!(capacity.device_free, capacity.device_total, "{capacity:?}");
    }
}

#[then(regex = r"^the worker holds (\d+ (?:MiB|KiB|bytes?)) in (\d+) shards?$")]
fn holds(world: &mut ResidencyWorld, size: String, count: usize) {
    let capacity = world.manager().capacity().expect("capacity");
    assert_eq!(capacity.used_by_shards, parse_size(&size), "{capacity:?}");
    assert_eq!(capacity.shard_count, count, "{capacity:?}");
    assert_eq!(world.worker().shards.len(), count);
    let sum: u64 = world.worker().shards.values().map(|s| s.bytes()).sum();
    assert_eq!(
        sum, capacity.used_by_shards,
        "the ledger is not the sum of live shards"
    );
    if let Some(host) = &world.worker().host {
        assert_eq!(host.live_buffer_count(), count);
        assert_eq!(
            capacity.device_total - capacity.device_free,
            capacity.used_by_shards,
            "{capacity:?}"
        );
    }
}

#[then(regex = r"^the device has (\d+ (?:MiB|KiB|bytes?)) free$")]
fn device_free(world: &mut ResidencyWorld, size: String) {
    assert!(
        world.worker().host.is_some(),
        "this step needs the simulated device"
    );
    let capacity = world.manager().capacity().expect("capacity");
    assert_eq!(capacity.device_free, parse_size(&size), "{capacity:?}");
}

#[then(regex = r"^the worker is ready$")]
fn is_ready(world: &mut ResidencyWorld) {
    assert_eq!(world.manager().state(), WorkerState::Ready);
}

#[then(regex = r"^the worker is stopped$")]
fn is_stopped(world: &mut ResidencyWorld) {
    let state = world.manager().state();
    assert!(state.is_stopped(), "the worker is {state:?}");
}

#[then(
    regex = r#"^the worker refuses to seal (\d+ (?:MiB|KiB|bytes?)) of weights as "([^"]*)" because it is stopped$"#
)]
fn refuses_because_stopped(world: &mut ResidencyWorld, size: String, id: String) {
    world.seal(&id, parse_size(&size), SealOptions::default());
    let error = world.seal_error();
    assert!(
        matches!(error, ResidencyError::WorkerStopped { .. }),
        "{error:?}"
    );
    assert!(!world.worker().shards.contains_key(&id));
}

#[then(regex = r"^the error can be retried$")]
fn retriable(world: &mut ResidencyWorld) {
    let error = world.last_error();
    assert!(error.is_retriable(), "{error:?} is not retriable");
    assert!(!error.is_security_incident(), "{error:?}");
}

#[then(regex = r"^the error is fatal and a security incident$")]
fn fatal_incident(world: &mut ResidencyWorld) {
    let error = world.last_error();
    assert!(!error.is_retriable(), "{error:?} is retriable");
    assert!(error.is_security_incident(), "{error:?} is not an incident");
}

#[then(regex = r"^the error is not a security incident$")]
fn not_incident(world: &mut ResidencyWorld) {
    let error = world.last_error();
    assert!(!error.is_security_incident(), "{error:?} is an incident");
}

#[then(regex = r"^no audit event was recorded$")]
fn no_event(world: &mut ResidencyWorld) {
    let records = world.records();
    assert!(
        records.is_empty(),
        "the audit log holds {:?}",
        records.iter().map(|r| &r.kind).collect::<Vec<_>>()
    );
}

/// The table's columns: `event` (the kind; required), `shard` (exact: an
/// empty cell means the event names no shard), `severity` and `policy`
/// (checked where the cell is not empty).
#[then(regex = r"^the audit log holds exactly these events:$")]
fn exactly_these_events(world: &mut ResidencyWorld, step: &Step) {
    let table = step.table.as_ref().expect("a table of events");
    let header = &table.rows[0];
    let column = |name: &str| header.iter().position(|h| h == name);
    let event_col = column("event").expect("an `event` column");
    let records = world.records();
    let expected = &table.rows[1..];
    let kinds: Vec<&str> = records.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(
        records.len(),
        expected.len(),
        "the audit log holds {kinds:?}"
    );
    for (i, (row, record)) in expected.iter().zip(&records).enumerate() {
        let seq = i + 1;
        assert_eq!(record.seq, seq as u64);
        assert_eq!(
            record.kind, row[event_col],
            "record {seq}; the log holds {kinds:?}"
        );
        assert_eq!(record.worker_id, world.worker().id, "record {seq}");
        if let Some(c) = column("shard") {
            let want = (!row[c].is_empty()).then(|| row[c].clone());
            assert_eq!(record.shard_id, want, "shard of record {seq}");
        }
        if let Some(c) = column("severity")
            && !row[c].is_empty()
        {
            let want: Severity = row[c].parse().expect("a severity");
            assert_eq!(record.severity, want, "severity of record {seq}");
        }
        if let Some(c) = column("policy")
            && !row[c].is_empty()
        {
            assert_eq!(
                record.event["policy"],
                row[c].as_str(),
                "policy of record {seq}"
            );
        }
    }
}

#[then(regex = r"^the audit chain verifies$")]
fn chain_verifies(world: &mut ResidencyWorld) {
    let count = world.records().len() as u64;
    let worker = world.worker();
    let report = audit_core::verify_log(&worker.db, &worker.id, &worker.secret, None)
        .expect("verify the audit log");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.records_checked, count, "{report:?}");
}
