//! The residency policy at start-up (spec `VR-POL-*`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;

use audit_core::{MemorySink, Severity};
use gpu_alloc::{DeviceProperties, HostDevice, HostDeviceConfig, VramAllocator};
use vram_residency::{ManagerConfig, ResidencyError, ResidencyPolicy, VramManager, WorkerState};

fn manager_with(
    props: impl FnOnce(&mut DeviceProperties),
    policy: ResidencyPolicy,
) -> (VramManager, Arc<MemorySink>) {
    let mut config = HostDeviceConfig::with_capacity(8 << 20);
    props(&mut config.properties);
    let device: Arc<dyn VramAllocator> = HostDevice::new(config);
    let audit = Arc::new(MemorySink::new());
    let manager = VramManager::new(
        ManagerConfig::new("w", common::secret(), audit.clone())
            .allocator(device)
            .policy(policy),
    )
    .unwrap();
    (manager, audit)
}

fn assert_refused(
    case: &str,
    props: impl FnOnce(&mut DeviceProperties),
    policy: ResidencyPolicy,
    rule: &str,
) {
    let (manager, audit) = manager_with(props, policy);
    let err = manager.enforce_policy().unwrap_err();
    assert!(
        matches!(err, ResidencyError::PolicyViolation { .. }),
        "{case}: {err}"
    );
    assert!(err.is_security_incident() && !err.is_retriable());
    assert!(err.to_string().contains(rule), "{case}: {err}");
    assert!(
        matches!(manager.state(), WorkerState::Stopped { .. }),
        "{case}"
    );
    let events = audit.events();
    assert!(!events.is_empty(), "{case}");
    assert!(
        events
            .iter()
            .all(|e| e.kind() == "PolicyViolation" && e.severity() == Severity::Critical)
    );
    assert!(
        events
            .iter()
            .any(|e| e.payload().to_string().contains(rule)),
        "{case}"
    );
    assert!(
        matches!(
            manager.seal("a", b"x"),
            Err(ResidencyError::WorkerStopped { .. })
        ),
        "{case}"
    );
}

#[test]
fn vr_pol_001_integrated_gpu_is_refused() {
    assert_refused(
        "integrated",
        |p| p.integrated = true,
        ResidencyPolicy::allow_simulated(),
        "no-integrated-gpu",
    );
}

#[test]
fn vr_pol_002_managed_allocations_are_refused() {
    assert_refused(
        "managed",
        |p| {
            p.allocations_managed = true;
            p.managed_memory = true;
            p.unified_addressing = true;
        },
        ResidencyPolicy::allow_simulated(),
        "no-managed-memory",
    );
}

/// HMM and ATS are recorded with every seal, not refused, by default: the
/// target H100s report HMM, and it never moves `cuMemAlloc` memory.
#[test]
fn vr_pol_003_pageable_host_access_is_recorded_not_refused_by_default() {
    let (manager, audit) = manager_with(
        |p| {
            p.pageable_memory_access = true;
            p.pageable_memory_access_uses_host_page_tables = true;
        },
        ResidencyPolicy::allow_simulated(),
    );
    manager.enforce_policy().unwrap();
    let _shard = manager.seal("a", b"weights").unwrap();
    let sealed = audit
        .events()
        .into_iter()
        .find(|e| e.kind() == "VramSealed")
        .unwrap();
    let residency = &sealed.payload()["residency"];
    assert_eq!(residency["pageable_memory_access"], true, "{residency}");
    assert_eq!(residency["uses_host_page_tables"], true, "{residency}");
    assert_eq!(residency["memory"], "simulated", "{residency}");
    assert_eq!(residency["managed"], false, "{residency}");
    assert_eq!(residency["device_ordinal"], 0, "{residency}");
    assert!(residency["gpu_uuid"].is_null(), "{residency}");
}

/// An operator who wants HMM off refuses it, and is told how to turn it off
/// (HMM) or that it cannot be (ATS).
#[test]
fn vr_pol_003_a_policy_can_refuse_pageable_host_access() {
    let refusing = ResidencyPolicy::allow_simulated().refusing_pageable_host_access();
    assert_refused(
        "hmm",
        |p| p.pageable_memory_access = true,
        refusing,
        "uvm_disable_hmm=1",
    );
    assert_refused(
        "ats",
        |p| {
            p.pageable_memory_access = true;
            p.pageable_memory_access_uses_host_page_tables = true;
        },
        refusing,
        "cannot be turned off",
    );
    let (manager, _audit) = manager_with(|_| {}, refusing);
    manager.enforce_policy().unwrap();
}

/// VR-POL-007: a sealed buffer must be plain, unmanaged memory of the
/// worker's own device, as the driver reports it for its address.
#[test]
fn vr_pol_007_sealed_buffers_must_be_unmanaged_memory_of_the_device() {
    use gpu_alloc::{Backend, BufferPlacement, MemoryKind};
    let policy = ResidencyPolicy::strict();
    let device = |memory, managed, device_ordinal| BufferPlacement {
        memory,
        managed,
        device_ordinal,
    };
    let ok = device(MemoryKind::Device, false, 2);
    assert_eq!(policy.placement_violation(Backend::Cuda, 2, &ok), None);
    for bad in [
        device(MemoryKind::Device, false, 0),
        device(MemoryKind::Device, true, 2),
        device(MemoryKind::Host, false, 2),
        device(MemoryKind::Unified, false, 2),
        device(MemoryKind::Unknown, false, 2),
        device(MemoryKind::Simulated, false, 2),
    ] {
        let violation = policy.placement_violation(Backend::Cuda, 2, &bad).unwrap();
        assert_eq!(
            violation.policy, "sealed-buffer-in-device-memory",
            "{bad:?}"
        );
    }
    let simulated = device(MemoryKind::Simulated, false, 0);
    assert_eq!(
        policy.placement_violation(Backend::Host, 0, &simulated),
        None
    );
    let managed = device(MemoryKind::Simulated, true, 0);
    assert!(
        policy
            .placement_violation(Backend::Host, 0, &managed)
            .is_some()
    );
}

#[test]
fn vr_pol_004_simulated_device_needs_explicit_permission() {
    assert_refused(
        "simulated",
        |_| {},
        ResidencyPolicy::strict(),
        "no-simulated-device",
    );
}

/// Supporting managed memory and unified addressing, as every discrete
/// CUDA GPU does, is not a violation: our allocations never use them.
#[test]
fn vr_pol_005_discrete_gpu_flags_pass() {
    let (manager, audit) = manager_with(
        |p| {
            p.managed_memory = true;
            p.unified_addressing = true;
            p.concurrent_managed_access = true;
        },
        ResidencyPolicy::allow_simulated(),
    );
    manager.enforce_policy().unwrap();
    assert_eq!(manager.state(), WorkerState::Ready);
    assert!(audit.events().is_empty());
}
