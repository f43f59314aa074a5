//! Picking the device: CUDA where a driver and device exist, otherwise the
//! simulated device, and always saying which.

use std::sync::Arc;

use audit_core::AuditSink;
use gpu_alloc::{Backend, BackendChoice, HostDevice, HostDeviceConfig, VramAllocator};
use seal_crypto::WorkerSecret;
use vram_residency::{ManagerConfig, ResidencyPolicy, VramManager};

use crate::cli_error::CliError;

/// Which backend the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendArg {
    /// CUDA if a driver and device are present, else the simulated device.
    Auto,
    /// CUDA only; an error where there is none.
    Cuda,
    /// The simulated device in host memory.
    Host,
}

/// The device in use. The simulated one is kept by its concrete type so
/// the demo can inject a fault into it.
pub enum Device {
    Cuda(Arc<dyn VramAllocator>),
    Host(Arc<HostDevice>),
}

impl Device {
    pub fn allocator(&self) -> Arc<dyn VramAllocator> {
        match self {
            Self::Cuda(a) => Arc::clone(a),
            Self::Host(h) => Arc::clone(h) as Arc<dyn VramAllocator>,
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Self::Cuda(_) => Backend::Cuda,
            Self::Host(_) => Backend::Host,
        }
    }
}

/// Builds a worker on `device` and runs its residency policy check.
///
/// `vramctl` is an operator's tool, not a long-running worker: where the
/// user let it fall back to the simulated device (and it said so), the
/// policy allows that device; on CUDA the strict production policy applies.
pub fn start_worker(
    device: &Device,
    device_index: u32,
    worker_id: &str,
    secret: WorkerSecret,
    audit: Arc<dyn AuditSink>,
) -> Result<VramManager, CliError> {
    let policy = match device {
        Device::Host(_) => ResidencyPolicy::allow_simulated(),
        Device::Cuda(_) => ResidencyPolicy::strict(),
    };
    let manager = VramManager::new(
        ManagerConfig::new(worker_id, secret, audit)
            .allocator(device.allocator())
            .device_index(device_index)
            .policy(policy),
    )?;
    manager.enforce_policy()?;
    Ok(manager)
}

/// Opens the device. `host_capacity` sizes the simulated device.
pub fn open(choice: BackendArg, index: u32, host_capacity: u64) -> Result<Device, CliError> {
    let host = || -> Result<Device, CliError> {
        let config = HostDeviceConfig::with_capacity(host_capacity);
        Ok(Device::Host(HostDevice::open(config, index)?))
    };
    match choice {
        BackendArg::Host => host(),
        BackendArg::Cuda => Ok(Device::Cuda(gpu_alloc::open(BackendChoice::Cuda, index)?)),
        BackendArg::Auto => match gpu_alloc::device_count(Backend::Cuda) {
            Ok(count) if count > index => {
                Ok(Device::Cuda(gpu_alloc::open(BackendChoice::Cuda, index)?))
            }
            Ok(_) | Err(_) => host(),
        },
    }
}

/// One line that says which device was picked and why.
pub fn describe(device: &Device) -> String {
    match device {
        Device::Cuda(a) => {
            let name = a.properties().map(|p| p.name).unwrap_or_default();
            format!("backend: cuda, device {} ({name})", a.device_index())
        }
        Device::Host(h) => {
            let why = if gpu_alloc::cuda::driver_present() {
                "CUDA driver present but no usable device"
            } else {
                "no CUDA driver found"
            };
            let total = h.memory_info().map(|m| m.total).unwrap_or(0);
            format!(
                "backend: host (simulated), {} MiB of host memory standing in for VRAM ({why})",
                total >> 20
            )
        }
    }
}
