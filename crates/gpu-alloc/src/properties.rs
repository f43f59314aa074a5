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
    /// The GPU's UUID (`cuDeviceGetUuid`, as `GPU-xxxxxxxx-...` like
    /// `nvidia-smi -L`): names the physical GPU whatever
    /// `CUDA_VISIBLE_DEVICES` and `CUDA_DEVICE_ORDER` make its ordinal.
    /// `None` for the simulated device.
    pub uuid: Option<String>,
    /// The GPU's PCI bus id (`cuDeviceGetPCIBusId`, `domain:bus:device.function`).
    /// `None` for the simulated device.
    pub pci_bus_id: Option<String>,
}

/// What kind of memory an address is, as the driver reports it
/// (`CU_POINTER_ATTRIBUTE_MEMORY_TYPE`), or the simulated device's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemoryKind {
    /// Device memory (`CU_MEMORYTYPE_DEVICE`).
    Device,
    /// Host memory, pinned or registered (`CU_MEMORYTYPE_HOST`).
    Host,
    /// A CUDA array (`CU_MEMORYTYPE_ARRAY`).
    Array,
    /// Unified memory (`CU_MEMORYTYPE_UNIFIED`).
    Unified,
    /// Host memory of the simulated device: not a GPU's.
    Simulated,
    /// A value the driver reported that this crate does not know.
    Unknown,
}

impl std::fmt::Display for MemoryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Device => "device",
            Self::Host => "host",
            Self::Array => "array",
            Self::Unified => "unified",
            Self::Simulated => "simulated",
            Self::Unknown => "unknown",
        })
    }
}

/// Where one buffer's memory is, as the driver reports it for the buffer's
/// own address (`cuPointerGetAttributes`), not as the device's properties
/// suggest (GA-024). A residency policy checks this for every sealed buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BufferPlacement {
    /// The kind of memory (`CU_POINTER_ATTRIBUTE_MEMORY_TYPE`).
    pub memory: MemoryKind,
    /// The memory is managed, i.e. may migrate (`CU_POINTER_ATTRIBUTE_IS_MANAGED`).
    pub managed: bool,
    /// The ordinal of the device the memory belongs to
    /// (`CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL`).
    pub device_ordinal: u32,
}

impl BufferPlacement {
    /// Plain memory of device `ordinal`, not managed: what a sealed buffer
    /// of the CUDA backend must report.
    #[must_use]
    pub fn is_device_memory_of(&self, ordinal: u32) -> bool {
        self.memory == MemoryKind::Device && !self.managed && self.device_ordinal == ordinal
    }
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
