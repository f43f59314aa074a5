//! Choosing a backend: [`open`] with a [`BackendChoice`].
//!
//! Auto-selection prefers CUDA where a driver and a device are present and
//! otherwise falls back to the simulated device. An explicit choice of CUDA
//! never falls back: on a machine without CUDA it is an error (GA-018).

use std::sync::Arc;

use crate::VramAllocator;
use crate::cuda::{self, CudaDevice};
use crate::error::AllocError;
use crate::host::{HostDevice, HostDeviceConfig};
use crate::properties::Backend;

/// Which backend [`open`] should use.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// CUDA if a driver and at least one device are present, otherwise a
    /// simulated device with [`HostDeviceConfig::default`]. Check
    /// [`VramAllocator::backend`] to see (and log) which was picked.
    #[default]
    Auto,
    /// CUDA, or an error if there is no driver or no such device.
    Cuda,
    /// A device simulated in host memory, as configured.
    Host(HostDeviceConfig),
}

impl std::str::FromStr for BackendChoice {
    type Err = AllocError;

    /// Parses `auto`, `cuda` or `host` (the latter with the default
    /// configuration), as a command line would pass them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "cuda" => Ok(Self::Cuda),
            "host" => Ok(Self::Host(HostDeviceConfig::default())),
            _ => Err(AllocError::InvalidArgument {
                reason: "backend must be one of: auto, cuda, host",
            }),
        }
    }
}

/// Opens device `device_index` of the chosen backend.
///
/// ```
/// use gpu_alloc::{Backend, BackendChoice, HostDeviceConfig};
///
/// let device = gpu_alloc::open(BackendChoice::Host(HostDeviceConfig::with_capacity(1 << 20)), 0)?;
/// assert_eq!(device.backend(), Backend::Host);
/// assert_eq!(device.backend().to_string(), "host (simulated)");
/// # Ok::<(), gpu_alloc::AllocError>(())
/// ```
///
/// # Errors
/// [`AllocError::NoCudaDriver`] for [`BackendChoice::Cuda`] without a driver,
/// [`AllocError::NoSuchDevice`] for an index the backend does not have,
/// [`AllocError::Driver`] if the CUDA driver fails.
pub fn open(
    choice: BackendChoice,
    device_index: u32,
) -> Result<Arc<dyn VramAllocator>, AllocError> {
    match choice {
        BackendChoice::Cuda => Ok(CudaDevice::open(device_index)?),
        BackendChoice::Host(config) => Ok(HostDevice::open(config, device_index)?),
        BackendChoice::Auto => match cuda::device_count() {
            Ok(count) if picks_cuda(count) => {
                tracing::info!(count, device = device_index, "auto-selection picked CUDA");
                Ok(CudaDevice::open(device_index)?)
            }
            other => {
                match other {
                    Err(AllocError::NoCudaDriver) => {
                        tracing::info!(
                            "no CUDA driver found; auto-selection picked the simulated host device"
                        );
                    }
                    Err(err) => {
                        tracing::warn!(%err, "CUDA driver unusable; auto-selection picked the simulated host device");
                    }
                    Ok(_) => {
                        tracing::info!(
                            "CUDA driver sees no device; auto-selection picked the simulated host device"
                        );
                    }
                }
                Ok(HostDevice::open(HostDeviceConfig::default(), device_index)?)
            }
        },
    }
}

/// Auto-selection takes CUDA exactly when the driver sees a device.
fn picks_cuda(device_count: u32) -> bool {
    device_count > 0
}

/// Number of devices a backend offers: for [`Backend::Cuda`] what the
/// driver reports (0 where it sees no GPU), for [`Backend::Host`] the count
/// of [`HostDeviceConfig::default`] (see [`HostDevice::device_count`] for a
/// configured one).
///
/// # Errors
/// [`AllocError::NoCudaDriver`] for CUDA without a driver,
/// [`AllocError::Driver`] if the CUDA driver fails.
pub fn device_count(backend: Backend) -> Result<u32, AllocError> {
    match backend {
        Backend::Cuda => cuda::device_count(),
        Backend::Host => Ok(HostDeviceConfig::default().device_count),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GA-018: auto-selection picks CUDA where the driver sees a device,
    /// the simulated device where it sees none.
    #[test]
    fn ga_018_auto_picks_cuda_only_when_a_device_is_seen() {
        assert!(!picks_cuda(0));
        assert!(picks_cuda(1));
        assert!(picks_cuda(8));
    }
}
