//! [`CudaDevice`]: real device memory through the CUDA driver API (cudarc).
//!
//! Design (see `docs/adr-0001-cudarc.md`):
//! - cudarc loads `libcuda` at run time, so this module compiles and links on
//!   machines without CUDA. cudarc panics when a call finds no library, so
//!   every entry point first checks [`driver_present`] and returns
//!   [`AllocError::NoCudaDriver`] instead (GA-014).
//! - Memory comes from `cuMemAlloc` only, never managed memory, and free
//!   memory is checked first so the refusal carries the numbers (GA-015).
//! - The driver binds contexts per host thread, and callers may use a device
//!   from any thread, so every call binds the device's primary context first
//!   (GA-016).
//!
//! This module is only the thin driver layer: opening a device and the
//! `DriverOps` calls, each a checked, bound cudarc call. The logic over
//! them (checks, chunked copies at offsets, zeroing, freeing on drop, the
//! reported properties) is in `driver_logic.rs`, where tests drive it with
//! a fake driver, since no GPU is there to drive this one.
//!
//! The device pointer lives only in the private `DevicePtr`, which has no
//! `Debug`, and no message or log line here includes it (GA-003).

// The driver API is FFI; unsafe is confined to this module and every block
// says why it is sound.
#![allow(unsafe_code)]

use std::ffi::c_int;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use cudarc::driver::{result, sys};

use crate::VramAllocator;
use crate::buffer::DeviceBuffer;
use crate::driver_logic::{AllocFailure, Attribute, DriverAllocator, DriverOps};
use crate::error::AllocError;
use crate::properties::{Backend, DeviceProperties, MemoryInfo};

/// Whether the CUDA driver library (`libcuda`) can be loaded on this machine.
///
/// Checked once and cached. When false, no other function of this module
/// calls into cudarc.
#[must_use]
pub fn driver_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    *PRESENT.get_or_init(|| {
        // SAFETY: `is_culib_present` only tries to load the library under
        // its known names and drops the handle; it calls no CUDA function.
        let present = unsafe { sys::is_culib_present() };
        tracing::debug!(present, "probed for the CUDA driver library");
        present
    })
}

/// Number of CUDA devices, 0 where the driver is installed but sees no GPU.
///
/// # Errors
/// [`AllocError::NoCudaDriver`] without a driver library,
/// [`AllocError::Driver`] if the driver fails to initialise.
pub fn device_count() -> Result<u32, AllocError> {
    if !driver_present() {
        return Err(AllocError::NoCudaDriver);
    }
    match result::init() {
        Ok(()) => {}
        Err(err) if err.0 == sys::CUresult::CUDA_ERROR_NO_DEVICE => return Ok(0),
        Err(err) => return Err(driver_error("cuInit", err)),
    }
    let count = result::device::get_count().map_err(|e| driver_error("cuDeviceGetCount", e))?;
    Ok(u32::try_from(count).unwrap_or(0))
}

/// A driver error as a typed error: the error's name and description only.
fn driver_error(call: &'static str, err: result::DriverError) -> AllocError {
    AllocError::Driver {
        call,
        name: format!("{:?}", err.0),
        description: err
            .error_string()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "no description from the driver".to_owned()),
    }
}

/// Source of [`CudaDriver::serial`].
static NEXT_DRIVER: AtomicU64 = AtomicU64::new(1);

/// The thin driver layer: a retained primary context of one device, and the
/// driver calls of [`DriverOps`], each binding the context first (GA-016).
/// Everything else (checks, chunking, zeroing, freeing on drop, properties)
/// is in `driver_logic.rs`, where tests drive it with a fake driver.
///
/// Shared by the device and its buffers, so buffers can still free their
/// memory after the device handle is gone; the context is released when
/// the last of them is dropped.
struct CudaDriver {
    device: sys::CUdevice,
    context: sys::CUcontext,
    /// Tags this driver's allocations, so another driver's are refused.
    serial: u64,
}

// SAFETY: a CUcontext is an opaque handle that the driver API accepts from
// any host thread (binding it with cuCtxSetCurrent is per thread, which
// `bind` does before every call that needs it); this type never
// dereferences it.
unsafe impl Send for CudaDriver {}
// SAFETY: as above; the driver API is thread safe, and `&CudaDriver` only
// passes the handle to it.
unsafe impl Sync for CudaDriver {}

/// One live `cuMemAlloc` allocation: made only by [`CudaDriver::alloc`],
/// consumed by [`CudaDriver::free`], so while one exists its memory is live.
/// Holds the device address, so it has no `Debug` and is never logged.
struct DevicePtr {
    pointer: sys::CUdeviceptr,
    len: usize,
    /// The [`CudaDriver::serial`] of the driver that allocated it.
    owner: u64,
}

impl CudaDriver {
    /// Makes this context current on the calling thread.
    fn bind(&self) -> Result<(), AllocError> {
        // SAFETY: `context` was returned by cuDevicePrimaryCtxRetain and is
        // not released before this `CudaDriver` is dropped.
        unsafe { result::ctx::set_current(self.context) }
            .map_err(|e| driver_error("cuCtxSetCurrent", e))
    }

    /// The device address of `offset..offset + len` in `allocation`, once
    /// that range lies inside it and the allocation is this driver's. The
    /// logic checks ranges first; this check keeps the safe trait sound.
    fn address(
        &self,
        allocation: &DevicePtr,
        offset: u64,
        len: usize,
    ) -> Result<sys::CUdeviceptr, AllocError> {
        if allocation.owner != self.serial {
            return Err(foreign_allocation());
        }
        match offset.checked_add(len as u64) {
            Some(end) if end <= allocation.len as u64 => Ok(allocation.pointer + offset),
            _ => Err(AllocError::OutOfBounds {
                offset,
                len: len as u64,
                buffer_len: allocation.len as u64,
            }),
        }
    }

    fn attribute_raw(&self, attribute: sys::CUdevice_attribute) -> Result<i32, AllocError> {
        // SAFETY: the device came from cuDeviceGet in `CudaDevice::open`.
        unsafe { result::device::get_attribute(self.device, attribute) }
            .map_err(|e| driver_error("cuDeviceGetAttribute", e))
    }
}

fn foreign_allocation() -> AllocError {
    AllocError::InvalidArgument {
        reason: "allocation belongs to another CUDA device",
    }
}

impl Drop for CudaDriver {
    fn drop(&mut self) {
        // SAFETY: `device` came from cuDeviceGet and its primary context was
        // retained exactly once for this `CudaDriver`.
        if let Err(err) = unsafe { result::primary_ctx::release(self.device) } {
            tracing::warn!(error = ?err.0, "releasing the CUDA primary context failed");
        }
    }
}

impl DriverOps for CudaDriver {
    type Allocation = DevicePtr;

    fn name(&self) -> Result<String, AllocError> {
        result::device::get_name(self.device).map_err(|e| driver_error("cuDeviceGetName", e))
    }

    fn total_memory(&self) -> Result<u64, AllocError> {
        // SAFETY: the device came from cuDeviceGet in `CudaDevice::open`.
        let total = unsafe { result::device::total_mem(self.device) }
            .map_err(|e| driver_error("cuDeviceTotalMem", e))?;
        Ok(total as u64)
    }

    fn attribute(&self, attribute: Attribute) -> Result<i32, AllocError> {
        use sys::CUdevice_attribute as A;
        self.attribute_raw(match attribute {
            Attribute::ComputeCapabilityMajor => A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
            Attribute::ComputeCapabilityMinor => A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
            Attribute::Integrated => A::CU_DEVICE_ATTRIBUTE_INTEGRATED,
            Attribute::UnifiedAddressing => A::CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING,
            Attribute::ManagedMemory => A::CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY,
            Attribute::PageableMemoryAccess => A::CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS,
            Attribute::PageableMemoryAccessUsesHostPageTables => {
                A::CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS_USES_HOST_PAGE_TABLES
            }
            Attribute::ConcurrentManagedAccess => A::CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS,
        })
    }

    fn mem_get_info(&self) -> Result<MemoryInfo, AllocError> {
        self.bind()?;
        let (free, total) = result::mem_get_info().map_err(|e| driver_error("cuMemGetInfo", e))?;
        Ok(MemoryInfo {
            total: total as u64,
            free: free as u64,
        })
    }

    fn alloc(&self, len: usize) -> Result<DevicePtr, AllocFailure> {
        self.bind().map_err(AllocFailure::Driver)?;
        // SAFETY: the context is bound on this thread; cuMemAlloc returns
        // plain device memory, never managed memory (GA-015). The bytes are
        // uninitialised until zeroed, which is fine for u8.
        match unsafe { result::malloc_sync(len) } {
            Ok(pointer) => Ok(DevicePtr {
                pointer,
                len,
                owner: self.serial,
            }),
            Err(err) if err.0 == sys::CUresult::CUDA_ERROR_OUT_OF_MEMORY => {
                Err(AllocFailure::OutOfMemory)
            }
            Err(err) => Err(AllocFailure::Driver(driver_error("cuMemAlloc", err))),
        }
    }

    fn free(&self, allocation: DevicePtr) -> Result<(), AllocError> {
        // Never free in the wrong context: leak instead.
        if allocation.owner != self.serial {
            return Err(foreign_allocation());
        }
        self.bind()?;
        // SAFETY: `allocation` was returned by cuMemAlloc in this context
        // (same owner) and is consumed here, so it is freed exactly once;
        // all copies are synchronous, so none is in flight.
        unsafe { result::free_sync(allocation.pointer) }.map_err(|e| driver_error("cuMemFree", e))
    }

    fn memset_zero(&self, allocation: &DevicePtr, len: usize) -> Result<(), AllocError> {
        let at = self.address(allocation, 0, len)?;
        self.bind()?;
        // SAFETY: `address` checked that `at..at + len` lies inside this
        // driver's live allocation (live while a `DevicePtr` exists); the
        // context is bound; the call is synchronous.
        unsafe { result::memset_d8_sync(at, 0, len) }.map_err(|e| driver_error("cuMemsetD8", e))
    }

    fn copy_to_device(
        &self,
        allocation: &DevicePtr,
        offset: u64,
        src: &[u8],
    ) -> Result<(), AllocError> {
        let at = self.address(allocation, offset, src.len())?;
        self.bind()?;
        // SAFETY: `address` checked that `at..at + src.len()` lies inside
        // this driver's live allocation; the context is bound; the copy is
        // synchronous, so `src` is not used after the call returns.
        unsafe { result::memcpy_htod_sync(at, src) }.map_err(|e| driver_error("cuMemcpyHtoD", e))
    }

    fn copy_from_device(
        &self,
        allocation: &DevicePtr,
        offset: u64,
        dst: &mut [u8],
    ) -> Result<(), AllocError> {
        let at = self.address(allocation, offset, dst.len())?;
        self.bind()?;
        // SAFETY: `address` checked that `at..at + dst.len()` lies inside
        // this driver's live allocation; the context is bound; the copy is
        // synchronous and `dst` is exclusively ours.
        unsafe { result::memcpy_dtoh_sync(dst, at) }.map_err(|e| driver_error("cuMemcpyDtoH", e))
    }
}

/// One CUDA device, opened with [`CudaDevice::open`].
pub struct CudaDevice {
    inner: DriverAllocator<CudaDriver>,
}

impl CudaDevice {
    /// Opens CUDA device `index`.
    ///
    /// # Errors
    /// [`AllocError::NoCudaDriver`] without a driver library,
    /// [`AllocError::NoSuchDevice`] for an index the driver does not list,
    /// [`AllocError::Driver`] if the driver fails.
    pub fn open(index: u32) -> Result<Arc<Self>, AllocError> {
        let count = device_count()?;
        if index >= count {
            return Err(AllocError::NoSuchDevice { index, count });
        }
        let ordinal =
            c_int::try_from(index).map_err(|_| AllocError::NoSuchDevice { index, count })?;
        let device = result::device::get(ordinal).map_err(|e| driver_error("cuDeviceGet", e))?;
        // SAFETY: `device` was just returned by cuDeviceGet.
        let context = unsafe { result::primary_ctx::retain(device) }
            .map_err(|e| driver_error("cuDevicePrimaryCtxRetain", e))?;
        let driver = Arc::new(CudaDriver {
            device,
            context,
            serial: NEXT_DRIVER.fetch_add(1, Ordering::Relaxed),
        });
        driver.bind()?;
        tracing::info!(device = index, "opened CUDA device");
        Ok(Arc::new(Self {
            inner: DriverAllocator::new(index, driver),
        }))
    }
}

impl std::fmt::Debug for CudaDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not derived: the context handle is an address.
        f.debug_struct("CudaDevice")
            .field("index", &self.inner.index())
            .finish_non_exhaustive()
    }
}

impl VramAllocator for CudaDevice {
    fn backend(&self) -> Backend {
        Backend::Cuda
    }

    fn device_index(&self) -> u32 {
        self.inner.index()
    }

    fn properties(&self) -> Result<DeviceProperties, AllocError> {
        self.inner.properties()
    }

    fn memory_info(&self) -> Result<MemoryInfo, AllocError> {
        self.inner.memory_info()
    }

    fn allocate(&self, bytes: u64) -> Result<DeviceBuffer, AllocError> {
        self.inner.allocate(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs on every machine: without a driver every entry point must say so
    /// with a typed error (and must not reach cudarc, which would panic).
    /// GA-014.
    #[test]
    fn ga_014_entry_points_check_for_the_driver_first() {
        if driver_present() {
            eprintln!("CUDA driver present: the no-driver path is not exercised on this machine");
            let count = device_count().unwrap();
            assert!(matches!(
                CudaDevice::open(count),
                Err(AllocError::NoSuchDevice { .. })
            ));
            return;
        }
        eprintln!("CUDA tests did not run: no CUDA driver found (checked the no-driver path)");
        assert_eq!(device_count(), Err(AllocError::NoCudaDriver));
        assert_eq!(CudaDevice::open(0).unwrap_err(), AllocError::NoCudaDriver);
        // Cached: asking again gives the same answer without probing again.
        assert!(!driver_present());
    }
}
