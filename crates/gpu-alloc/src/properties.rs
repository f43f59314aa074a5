//! Plain data that describes a device: which backend it is, its memory and
//! the properties that decide the residency policy.
//!
//! These types hold no handles and no addresses, so they can be logged and
//! serialized freely (GA-003).

use serde::{Deserialize, Serialize};

/// Which implementation of [`crate::VramAllocator`] is behind a handle.
///
/// Displayed as `cuda` or `host (simulated)`, so a caller can log which one
/// auto-selection picked (GA-018).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Real device memory through the CUDA driver API.
    Cuda,
    /// A device simulated in host memory ([`crate::HostDevice`]).
    Host,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Cuda => "cuda",
            Self::Host => "host (simulated)",
        })
    }
}

/// Total and free device memory in bytes (GA-009).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MemoryInfo {
    /// Device memory in total.
    pub total: u64,
    /// Device memory free now.
    pub free: u64,
}

impl MemoryInfo {
    /// Bytes in use (`total - free`).
    #[must_use]
    pub fn used(&self) -> u64 {
        self.total.saturating_sub(self.free)
    }
}

/// The properties of a device that decide whether model weights can be
/// guaranteed to stay in its own memory (GA-010).
///
/// The flags mirror CUDA device attributes; the residency policy that judges
/// them belongs to the caller, not to this crate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DeviceProperties {
    /// Device name as the driver reports it.
    pub name: String,
    /// Compute capability (major, minor).
    pub compute_capability: (u32, u32),
    /// The GPU shares memory with the host (`CU_DEVICE_ATTRIBUTE_INTEGRATED`).
    pub integrated: bool,
    /// Host and device share one virtual address space
    /// (`CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING`).
    pub unified_addressing: bool,
    /// The device can allocate managed memory
    /// (`CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY`).
    pub managed_memory: bool,
    /// Device code can access pageable host memory, i.e. HMM or ATS
    /// (`CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS`).
    pub pageable_memory_access: bool,
    /// Pageable access goes through the host's page tables, i.e. ATS
    /// (`CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS_USES_HOST_PAGE_TABLES`).
    pub pageable_memory_access_uses_host_page_tables: bool,
    /// Host and device can access managed memory concurrently
    /// (`CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS`).
    pub concurrent_managed_access: bool,
    /// This backend's allocations are managed (unified) memory, which the
    /// driver may migrate to host RAM. The CUDA backend allocates with
    /// `cuMemAlloc` and reports `false`; a simulated device reports what it
    /// was configured with, so tests can present a backend that would break
    /// the residency rule.
    pub allocations_managed: bool,
    /// Device memory in total, in bytes.
    pub total_memory: u64,
}

/// The direction of a copy between host and device memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CopyDirection {
    /// From host memory into a device buffer.
    HostToDevice,
    /// From a device buffer into host memory.
    DeviceToHost,
}

impl std::fmt::Display for CopyDirection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::HostToDevice => "host-to-device",
            Self::DeviceToHost => "device-to-host",
        })
    }
}
