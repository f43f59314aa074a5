//! Steps of `policy.feature`: simulated devices that report what a real GPU
//! might, checked against the residency policy.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use cucumber::{given, then, when};
use gpu_alloc::{DeviceProperties, HostDeviceConfig};
use vram_residency::{ResidencyError, ResidencyPolicy};

use crate::world::{DEFAULT_SIMULATED_CAPACITY, ResidencyWorld, WorkerSpec};

/// Properties of a simulated device described in words, and the policy
/// that applies instead of the test policy, if any.
fn described(description: &str) -> (DeviceProperties, Option<ResidencyPolicy>) {
    let mut p = HostDeviceConfig::with_capacity(DEFAULT_SIMULATED_CAPACITY).properties;
    let mut policy = None;
    let refusing = ResidencyPolicy::allow_simulated().refusing_pageable_host_access();
    match description {
        "is an integrated GPU" => p.integrated = true,
        "hands out managed (unified) memory" => p.allocations_managed = true,
        "reads pageable host memory directly (HMM)" => p.pageable_memory_access = true,
        "reads pageable host memory directly (HMM), under a policy that refuses it" => {
            p.pageable_memory_access = true;
            policy = Some(refusing);
        }
        "reads host memory through the host page tables (ATS), under a policy that refuses it" => {
            p.pageable_memory_access = true;
            p.pageable_memory_access_uses_host_page_tables = true;
            policy = Some(refusing);
        }
        "is an integrated GPU handing out managed (unified) memory" => {
            p.integrated = true;
            p.allocations_managed = true;
        }
        "is a plain discrete GPU, under the production policy" => {
            policy = Some(ResidencyPolicy::strict());
        }
        "supports managed memory, unified addressing and concurrent managed access but allocates plain device memory" =>
        {
            p.managed_memory = true;
            p.unified_addressing = true;
            p.concurrent_managed_access = true;
        }
        other => panic!("no simulated device is described as {other:?}"),
    }
    (p, policy)
}

#[given(regex = r"^a worker on a simulated device that (.+)$")]
fn worker_on_described_device(world: &mut ResidencyWorld, description: String) {
    let (properties, policy) = described(&description);
    let spec = WorkerSpec {
        simulated: Some(
            HostDeviceConfig::with_capacity(DEFAULT_SIMULATED_CAPACITY).with_properties(properties),
        ),
        policy,
        enforce_policy: false,
        ..WorkerSpec::first()
    };
    let worker = world.start(&spec);
    world.worker = Some(worker);
}

#[when(regex = r"^the worker checks the residency policy$")]
fn checks_policy(world: &mut ResidencyWorld) {
    world.check_policy();
}

#[given(regex = r"^the worker has checked the residency policy$")]
fn has_checked_policy(world: &mut ResidencyWorld) {
    world.check_policy();
}

fn policy_error(world: &ResidencyWorld) -> &ResidencyError {
    match &world.last.policy {
        Some(Err(e)) => e,
        other => panic!("the policy check did not fail: {other:?}"),
    }
}

#[then(regex = r#"^the check fails as a policy violation of "([^"]*)"$"#)]
fn fails_as(world: &mut ResidencyWorld, policy: String) {
    match policy_error(world) {
        ResidencyError::PolicyViolation { violations } => {
            assert!(violations.contains(&policy), "{violations}");
        }
        other => panic!("{other:?}"),
    }
}

#[then(regex = r"^the check passes$")]
fn check_passes(world: &mut ResidencyWorld) {
    match &world.last.policy {
        Some(Ok(())) => {}
        other => panic!("the policy check did not pass: {other:?}"),
    }
}

#[then(
    regex = r#"^the VramSealed event for "([^"]*)" records pageable host memory access and simulated, unmanaged memory of device 0$"#
)]
fn sealed_records_residency(world: &mut ResidencyWorld, id: String) {
    let records = world.records();
    let record = records
        .iter()
        .find(|r| r.kind == "VramSealed" && r.shard_id.as_deref() == Some(id.as_str()))
        .expect("a VramSealed event");
    let residency = &record.event["residency"];
    assert_eq!(residency["pageable_memory_access"], true, "{residency}");
    assert_eq!(residency["memory"], "simulated", "{residency}");
    assert_eq!(residency["managed"], false, "{residency}");
    assert_eq!(residency["device_ordinal"], 0, "{residency}");
}

#[then(regex = r"^the check is refused because the worker is stopped$")]
fn check_refused_stopped(world: &mut ResidencyWorld) {
    let error = policy_error(world);
    assert!(
        matches!(error, ResidencyError::WorkerStopped { .. }),
        "{error:?}"
    );
}

#[then(regex = r"^the PolicyViolation event is in the audit log before any flush$")]
fn policy_event_durable(world: &mut ResidencyWorld) {
    // No flush here: the event must already be in the database.
    let records = world.records_now();
    assert!(
        records.iter().any(|r| r.kind == "PolicyViolation"),
        "not yet in the database: {:?}",
        records.iter().map(|r| &r.kind).collect::<Vec<_>>()
    );
}
