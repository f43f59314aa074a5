//! Shared set-up for the facade's integration tests: a simulated device, an
//! in-memory audit sink and a manager that has passed its policy check.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use audit_core::MemorySink;
use gpu_alloc::{HostDevice, HostDeviceConfig};
use seal_crypto::WorkerSecret;
use vram_residency::{ManagerConfig, ResidencyPolicy, VramManager};

pub const MIB: u64 = 1 << 20;

pub struct Rig {
    pub manager: VramManager,
    pub device: Arc<HostDevice>,
    pub audit: Arc<MemorySink>,
}

pub fn secret() -> WorkerSecret {
    WorkerSecret::new(&[0x42; 32]).unwrap()
}

/// A ready manager over a simulated device of `capacity` bytes.
pub fn rig(capacity: u64) -> Rig {
    let device = HostDevice::new(HostDeviceConfig::with_capacity(capacity));
    let audit = Arc::new(MemorySink::new());
    let manager = VramManager::new(
        ManagerConfig::new("test-worker", secret(), audit.clone())
            .allocator(device.clone())
            .policy(ResidencyPolicy::allow_simulated()),
    )
    .unwrap();
    manager.enforce_policy().unwrap();
    Rig {
        manager,
        device,
        audit,
    }
}

/// Kinds of the audit events recorded so far, in order.
pub fn kinds(audit: &MemorySink) -> Vec<String> {
    audit.events().iter().map(|e| e.kind().to_owned()).collect()
}

/// Deterministic pseudo-random bytes.
pub fn model(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
