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
//! The device pointer lives only in the private `CudaStorage`, which has no `Debug`,
//! and no message or log line here includes it (GA-003).

// The driver API is FFI; unsafe is confined to this module and every block
// says why it is sound.
#![allow(unsafe_code)]

use std::ffi::c_int;
use std::sync::{Arc, OnceLock};

use cudarc::driver::{result, sys};

use crate::VramAllocator;
use crate::buffer::{BufferId, BufferStorage, DeviceBuffer};
use crate::error::AllocError;
use crate::properties::{Backend, CopyDirection, DeviceProperties, MemoryInfo};

/// Largest single driver copy. Bounds what the driver stages internally for
/// pageable host memory; callers can still pass slices of any size.
const COPY_CHUNK: usize = 64 << 20;

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

fn copy_error(
    direction: CopyDirection,
    len: usize,
    call: &'static str,
    err: result::DriverError,
) -> AllocError {
    AllocError::CopyFailed {
        direction,
        len: len as u64,
        reason: driver_error(call, err).to_string(),
    }
}

/// A retained primary context of one device. Shared by the device and its
/// buffers, so buffers can still free their memory after the device handle
/// is gone; released when the last of them is dropped.
struct Context {
    device: sys::CUdevice,
    context: sys::CUcontext,
}

// SAFETY: a CUcontext is an opaque handle that the driver API accepts from
// any host thread (binding it with cuCtxSetCurrent is per thread, which
// `bind` does before every call); this type never dereferences it.
unsafe impl Send for Context {}
// SAFETY: as above; the driver API is thread safe, and `&Context` only
// passes the handle to it.
unsafe impl Sync for Context {}

impl Context {
    /// Makes this context current on the calling thread.
    fn bind(&self) -> Result<(), AllocError> {
        // SAFETY: `context` was returned by cuDevicePrimaryCtxRetain and is
        // not released before this `Context` is dropped.
        unsafe { result::ctx::set_current(self.context) }
            .map_err(|e| driver_error("cuCtxSetCurrent", e))
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: `device` came from cuDeviceGet and its primary context was
        // retained exactly once for this `Context`.
        if let Err(err) = unsafe { result::primary_ctx::release(self.device) } {
            tracing::warn!(error = ?err.0, "releasing the CUDA primary context failed");
        }
    }
}

/// One CUDA device, opened with [`CudaDevice::open`].
pub struct CudaDevice {
    index: u32,
    context: Arc<Context>,
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
        let context = Arc::new(Context { device, context });
        context.bind()?;
        tracing::info!(device = index, "opened CUDA device");
        Ok(Arc::new(Self { index, context }))
    }

    fn attribute(&self, attribute: sys::CUdevice_attribute) -> Result<i32, AllocError> {
        // SAFETY: the device came from cuDeviceGet in `open`.
        unsafe { result::device::get_attribute(self.context.device, attribute) }
            .map_err(|e| driver_error("cuDeviceGetAttribute", e))
    }

    fn flag(&self, attribute: sys::CUdevice_attribute) -> Result<bool, AllocError> {
        self.attribute(attribute).map(|v| v != 0)
    }
}

impl std::fmt::Debug for CudaDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not derived: the context handle is an address.
        f.debug_struct("CudaDevice")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl VramAllocator for CudaDevice {
    fn backend(&self) -> Backend {
        Backend::Cuda
    }

    fn device_index(&self) -> u32 {
        self.index
    }

    fn properties(&self) -> Result<DeviceProperties, AllocError> {
        use sys::CUdevice_attribute as A;
        let device = self.context.device;
        let name =
            result::device::get_name(device).map_err(|e| driver_error("cuDeviceGetName", e))?;
        // SAFETY: the device came from cuDeviceGet in `open`.
        let total = unsafe { result::device::total_mem(device) }
            .map_err(|e| driver_error("cuDeviceTotalMem", e))?;
        let major = self.attribute(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?;
        let minor = self.attribute(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?;
        Ok(DeviceProperties {
            name,
            compute_capability: (
                u32::try_from(major).unwrap_or(0),
                u32::try_from(minor).unwrap_or(0),
            ),
            integrated: self.flag(A::CU_DEVICE_ATTRIBUTE_INTEGRATED)?,
            unified_addressing: self.flag(A::CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING)?,
            managed_memory: self.flag(A::CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY)?,
            pageable_memory_access: self.flag(A::CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS)?,
            pageable_memory_access_uses_host_page_tables: self
                .flag(A::CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS_USES_HOST_PAGE_TABLES)?,
            concurrent_managed_access: self
                .flag(A::CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS)?,
            // Every allocation goes through cuMemAlloc: never managed memory.
            allocations_managed: false,
            total_memory: total as u64,
        })
    }

    fn memory_info(&self) -> Result<MemoryInfo, AllocError> {
        self.context.bind()?;
        let (free, total) = result::mem_get_info().map_err(|e| driver_error("cuMemGetInfo", e))?;
        Ok(MemoryInfo {
            total: total as u64,
            free: free as u64,
        })
    }

    fn allocate(&self, bytes: u64) -> Result<DeviceBuffer, AllocError> {
        if bytes == 0 {
            return Err(AllocError::ZeroSize);
        }
        let free = self.memory_info()?.free;
        // Refuse up front so the error carries the numbers (the driver's own
        // out-of-memory error does not).
        if bytes > free {
            return Err(AllocError::OutOfMemory {
                requested: bytes,
                available: free,
            });
        }
        let len = usize::try_from(bytes).map_err(|_| AllocError::OutOfMemory {
            requested: bytes,
            available: free,
        })?;
        // SAFETY: the context is bound on this thread (memory_info above);
        // cuMemAlloc returns plain device memory, never managed memory. The
        // bytes are uninitialised until zeroed below, which is fine for u8.
        let pointer = match unsafe { result::malloc_sync(len) } {
            Ok(pointer) => pointer,
            Err(err) if err.0 == sys::CUresult::CUDA_ERROR_OUT_OF_MEMORY => {
                // Another user took the memory between the check and the call.
                let available = self.memory_info().map(|m| m.free).unwrap_or(0);
                return Err(AllocError::OutOfMemory {
                    requested: bytes,
                    available,
                });
            }
            Err(err) => return Err(driver_error("cuMemAlloc", err)),
        };
        let id = BufferId::next();
        // From here the storage owns the memory: any early return frees it.
        let storage = CudaStorage {
            id,
            len: bytes,
            pointer,
            context: Arc::clone(&self.context),
        };
        // Zero it so no buffer ever shows an earlier tenant's bytes (GA-021).
        // SAFETY: `pointer` is a live allocation of exactly `len` bytes made
        // above in the bound context.
        unsafe { result::memset_d8_sync(pointer, 0, len) }
            .map_err(|e| driver_error("cuMemsetD8", e))?;
        tracing::debug!(
            buffer = id.get(),
            bytes,
            device = self.index,
            "CUDA buffer allocated"
        );
        Ok(DeviceBuffer::new(
            id,
            bytes,
            Backend::Cuda,
            self.index,
            Box::new(storage),
        ))
    }
}

/// Device memory behind one CUDA buffer. Holds the device address, so it
/// has no `Debug` and is never logged.
struct CudaStorage {
    id: BufferId,
    len: u64,
    pointer: sys::CUdeviceptr,
    context: Arc<Context>,
}

impl BufferStorage for CudaStorage {
    fn write(&mut self, offset: u64, src: &[u8]) -> Result<(), AllocError> {
        self.context.bind()?;
        let mut at = self.pointer + offset;
        for piece in src.chunks(COPY_CHUNK) {
            // SAFETY: `DeviceBuffer` checked offset + src.len() <= len, so
            // `at..at + piece.len()` lies inside this live allocation; the
            // context is bound; the copy is synchronous, so `piece` is not
            // used after the call returns.
            unsafe { result::memcpy_htod_sync(at, piece) }.map_err(|e| {
                copy_error(CopyDirection::HostToDevice, piece.len(), "cuMemcpyHtoD", e)
            })?;
            at += piece.len() as u64;
        }
        Ok(())
    }

    fn read(&self, offset: u64, dst: &mut [u8]) -> Result<(), AllocError> {
        self.context.bind()?;
        let mut at = self.pointer + offset;
        for piece in dst.chunks_mut(COPY_CHUNK) {
            let n = piece.len();
            // SAFETY: `DeviceBuffer` checked offset + dst.len() <= len, so
            // `at..at + n` lies inside this live allocation; the context is
            // bound; the copy is synchronous and `piece` is exclusively ours.
            unsafe { result::memcpy_dtoh_sync(piece, at) }
                .map_err(|e| copy_error(CopyDirection::DeviceToHost, n, "cuMemcpyDtoH", e))?;
            at += n as u64;
        }
        Ok(())
    }
}

impl Drop for CudaStorage {
    fn drop(&mut self) {
        // Never panic here: log and leak rather than free in the wrong context.
        if let Err(err) = self.context.bind() {
            tracing::warn!(buffer = self.id.get(), bytes = self.len, %err, "could not bind context to free CUDA buffer; memory leaked");
            return;
        }
        // SAFETY: `pointer` was returned by cuMemAlloc in this context and is
        // freed exactly once, here; all copies are synchronous, so none is
        // in flight.
        match unsafe { result::free_sync(self.pointer) } {
            Ok(()) => tracing::debug!(
                buffer = self.id.get(),
                bytes = self.len,
                "CUDA buffer freed"
            ),
            Err(err) => {
                tracing::warn!(buffer = self.id.get(), bytes = self.len, error = ?err.0, "cuMemFree failed; memory may be leaked")
            }
        }
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
