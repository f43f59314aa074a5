//! The residency policy: which devices may hold sealed weights at all.
//!
//! Weights must live in real device memory only (brief, "Residency"). A
//! device is refused when that cannot be guaranteed (spec `VR-POL-*`):
//!
//! - an **integrated** GPU, whose "device memory" is host RAM;
//! - an allocator whose **allocations are managed** (unified) memory, which
//!   the driver may migrate to host RAM;
//! - the **simulated** device, unless explicitly allowed (tests, demos):
//!   auto-selection falls back to it where no GPU exists, and a worker must
//!   never do that silently.
//!
//! And every sealed buffer is checked where it matters, at its own address
//! ([`ResidencyPolicy::placement_violation`]): the driver must report plain,
//! unmanaged memory of the worker's device.
//!
//! **Pageable memory access** (HMM or ATS) is recorded, not refused, by
//! default: an H100 with the open kernel modules on a recent kernel reports
//! HMM, HMM never moves `cuMemAlloc` memory, and any GPU can read host memory
//! through mapped or registered host buffers whatever the flag says, so
//! refusing it would refuse the target machines and guarantee nothing. An
//! operator who wants it off anyway sets
//! [`ResidencyPolicy::refuse_pageable_host_access`].
//!
//! Merely *supporting* managed memory or unified addressing is not refused:
//! every discrete CUDA GPU reports both, and our allocator never uses them.

use gpu_alloc::{Backend, BufferPlacement, DeviceProperties};
use serde::Serialize;

/// Which devices a manager accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ResidencyPolicy {
    /// Accept the simulated host-memory device. Off by default: a worker
    /// that meant to use a GPU must not fall back to host RAM silently.
    pub allow_simulated_device: bool,
    /// Refuse a device that can access pageable host memory (HMM or ATS).
    /// Off by default: see the module docs.
    pub refuse_pageable_host_access: bool,
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
            ..Self::default()
        }
    }

    /// The same policy, also refusing devices with pageable host memory
    /// access (HMM or ATS), for operators who want HMM off.
    #[must_use]
    pub fn refusing_pageable_host_access(mut self) -> Self {
        self.refuse_pageable_host_access = true;
        self
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
        if self.refuse_pageable_host_access {
            if properties.pageable_memory_access_uses_host_page_tables {
                refuse(
                    "no-pageable-host-access",
                    "device reads pageable host memory through the host page tables (ATS), which this policy refuses; ATS is part of the platform and cannot be turned off, so run on a machine without it or drop refuse_pageable_host_access",
                );
            } else if properties.pageable_memory_access {
                refuse(
                    "no-pageable-host-access",
                    "device can access pageable host memory (HMM), which this policy refuses; turn HMM off with the nvidia_uvm module option uvm_disable_hmm=1 (options nvidia_uvm uvm_disable_hmm=1 in /etc/modprobe.d, then reload nvidia_uvm) or drop refuse_pageable_host_access",
                );
            }
        }
        if backend == Backend::Host && !self.allow_simulated_device {
            refuse(
                "no-simulated-device",
                "the simulated device keeps weights in host RAM; allow it only for tests and demos",
            );
        }
        found
    }

    /// The rule a sealed buffer breaks, if any, from where the driver says
    /// its memory is (`VR-POL-007`): on CUDA, plain unmanaged memory of the
    /// worker's device `ordinal`; on the simulated device, not managed.
    pub fn placement_violation(
        &self,
        backend: Backend,
        ordinal: u32,
        placement: &BufferPlacement,
    ) -> Option<Violation> {
        let in_place = match backend {
            Backend::Cuda => placement.is_device_memory_of(ordinal),
            Backend::Host => !placement.managed,
        };
        (!in_place).then_some(Violation {
            policy: "sealed-buffer-in-device-memory",
            violation: "the driver does not report the sealed buffer as plain, unmanaged memory of this device",
        })
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
