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

#[test]
fn vr_pol_003_pageable_host_access_is_refused() {
    assert_refused(
        "hmm",
        |p| p.pageable_memory_access = true,
        ResidencyPolicy::allow_simulated(),
        "no-pageable-host-access",
    );
    assert_refused(
        "ats",
        |p| p.pageable_memory_access_uses_host_page_tables = true,
        ResidencyPolicy::allow_simulated(),
        "no-pageable-host-access",
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
