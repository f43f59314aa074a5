//! Picking the device: CUDA where a driver and device exist, otherwise the
//! simulated device, and always saying which.

use std::sync::Arc;

use gpu_alloc::{Backend, BackendChoice, HostDevice, HostDeviceConfig, VramAllocator};

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
