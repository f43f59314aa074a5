//! The residency policy: which devices may hold sealed weights at all.
//!
//! Weights must live in real device memory only (brief, "Residency"). A
//! device is refused when that cannot be guaranteed (spec `VR-POL-*`):
//!
//! - an **integrated** GPU, whose "device memory" is host RAM;
//! - **pageable memory access** (HMM or ATS), where device code reads host
//!   pages directly, so weights could silently be served from host RAM;
//! - an allocator whose **allocations are managed** (unified) memory, which
//!   the driver may migrate to host RAM;
//! - the **simulated** device, unless explicitly allowed (tests, demos):
//!   auto-selection falls back to it where no GPU exists, and a worker must
//!   never do that silently.
//!
//! Merely *supporting* managed memory or unified addressing is not refused:
//! every discrete CUDA GPU reports both, and our allocator never uses them.

use gpu_alloc::{Backend, DeviceProperties};
use serde::Serialize;

/// Which devices a manager accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ResidencyPolicy {
    /// Accept the simulated host-memory device. Off by default: a worker
    /// that meant to use a GPU must not fall back to host RAM silently.
    pub allow_simulated_device: bool,
}

impl ResidencyPolicy {
    /// The production policy: real GPUs only.
    pub fn strict() -> Self {
        Self::default()
    }

    /// Also accepts the simulated device, for tests and demos.
    pub fn allow_simulated() -> Self {
        Self {
            allow_simulated_device: true,
        }
    }

    /// Every rule `properties` breaks, as (policy, violation) pairs. Empty
    /// means the device is acceptable.
    pub fn violations(&self, backend: Backend, properties: &DeviceProperties) -> Vec<Violation> {
        let mut found = Vec::new();
        let mut refuse = |policy: &'static str, violation: &'static str| {
            found.push(Violation { policy, violation });
        };
        if properties.integrated {
            refuse(
                "no-integrated-gpu",
                "integrated GPU: its device memory is host RAM",
            );
        }
        if properties.allocations_managed {
            refuse(
                "no-managed-memory",
                "allocations are managed (unified) memory that may migrate to host RAM",
            );
        }
        if properties.pageable_memory_access
            || properties.pageable_memory_access_uses_host_page_tables
        {
            refuse(
                "no-pageable-host-access",
                "device can access pageable host memory (HMM/ATS), so weights could live in host RAM",
            );
        }
        if backend == Backend::Host && !self.allow_simulated_device {
            refuse(
                "no-simulated-device",
                "the simulated device keeps weights in host RAM; allow it only for tests and demos",
            );
        }
        found
    }
}

/// One broken rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Short name of the rule.
    pub policy: &'static str,
    /// What the device does that breaks it.
    pub violation: &'static str,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.policy, self.violation)
    }
}
