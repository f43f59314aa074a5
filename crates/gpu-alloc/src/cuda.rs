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
//!   from any thread, so every call pushes the device's primary context and
//!   pops it again when done (the `Bound` guard), leaving the thread's own current
//!   context as it found it (GA-016).
//! - All work goes to one non-blocking stream of our own, never the legacy
//!   default stream, so an inference engine sharing the primary context is
//!   not stalled by our copies; host copies go through a pinned staging
//!   buffer in two halves, so one half fills while the other is copied
//!   (GA-025). Every call waits for its own work before it returns, so the
//!   leaf-hash kernel, queued on the same stream, always runs after the
//!   copies that wrote what it reads.
//! - The leaf-hash kernel (`kernels/leaf_hash.cu`, GA-KERN-006) is loaded
//!   from the committed cubin for the device's architecture (sm_80 for
//!   compute capability 8.x, sm_90 for 9.0) or else its PTX, which the
//!   driver compiles (`cuModuleLoadData`); no toolchain on the worker.
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

use std::ffi::{CString, c_int, c_void};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use cudarc::driver::{result, sys};

use crate::VramAllocator;
use crate::buffer::DeviceBuffer;
use crate::driver_logic::{AllocFailure, Attribute, DriverAllocator, DriverOps};
use crate::error::AllocError;
use crate::leaves::{self, LeafHash};
use crate::properties::{Backend, BufferPlacement, DeviceProperties, MemoryInfo, MemoryKind};

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

/// Bytes in each half of the pinned staging buffer.
const STAGING_HALF: usize = 8 << 20;

/// Threads per block of the leaf-hash kernel: 83 registers each (ptxas)
/// leave room for several blocks per SM.
const KERNEL_BLOCK: u32 = 128;

/// The committed kernel images (`cargo xtask kernels` makes them; CI checks
/// they match the source).
const PTX: &str = concat!(include_str!("../kernels/leaf_hash.ptx"), "\0");
const CUBIN_SM80: &[u8] = include_bytes!("../kernels/leaf_hash.sm_80.cubin");
const CUBIN_SM90: &[u8] = include_bytes!("../kernels/leaf_hash.sm_90.cubin");

/// Which committed image of the leaf-hash kernel a device loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KernelImage {
    CubinSm80,
    CubinSm90,
    Ptx,
}

impl KernelImage {
    /// The images to try for compute capability `(major, minor)`, best
    /// first: a cubin runs on its own major version from its minor up; the
    /// PTX is compiled by the driver for anything else.
    fn candidates(major: i32, minor: i32) -> &'static [Self] {
        match (major, minor) {
            (9, 0) => &[Self::CubinSm90, Self::Ptx],
            (8, _) => &[Self::CubinSm80, Self::Ptx],
            _ => &[Self::Ptx],
        }
    }
}

/// The loaded kernel of one driver.
struct Kernel {
    module: sys::CUmodule,
    function: sys::CUfunction,
}

/// The pinned host buffer copies go through, in two halves, each with an
/// event that marks when the copy using it has finished.
struct Staging {
    host: *mut u8,
    events: [sys::CUevent; 2],
    /// Whether the half's event was recorded and may still be pending.
    recorded: [bool; 2],
}

/// The primary context pushed on the calling thread; dropping it pops the
/// context again, so the thread's own current context is restored (GA-016).
struct Bound<'a> {
    /// Borrows the driver (the context outlives the guard) and is not
    /// `Send`: the pop must happen on the thread that pushed.
    _driver: PhantomData<(&'a CudaDriver, *const ())>,
}

impl Drop for Bound<'_> {
    fn drop(&mut self) {
        let mut popped: sys::CUcontext = std::ptr::null_mut();
        // SAFETY: a `Bound` exists only after a successful push on this
        // thread (it is not `Send`), so there is a context to pop.
        if let Err(err) = unsafe { sys::cuCtxPopCurrent_v2(&mut popped) }.result() {
            tracing::warn!(error = ?err.0, "popping the CUDA context failed");
        }
    }
}

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
    /// Our own non-blocking stream: all copies, zeroing and kernels.
    stream: sys::CUstream,
    /// `None` where pinned memory could not be had: copies then go from
    /// pageable memory, slower but correct.
    staging: Mutex<Option<Staging>>,
    /// Loaded on first use, once.
    kernel: OnceLock<Result<Kernel, AllocError>>,
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
    /// Pushes this context on the calling thread until the guard drops.
    fn bind(&self) -> Result<Bound<'_>, AllocError> {
        push_context(self.context)?;
        Ok(Bound {
            _driver: PhantomData,
        })
    }

    /// Waits for everything queued on our stream.
    fn sync(&self) -> Result<(), AllocError> {
        // SAFETY: the stream was created in `open` and lives as long as self.
        unsafe { result::stream::synchronize(self.stream) }
            .map_err(|e| driver_error("cuStreamSynchronize", e))
    }

    /// The leaf-hash kernel, loaded on first use (the context is bound).
    fn kernel(&self) -> Result<&Kernel, AllocError> {
        self.kernel
            .get_or_init(|| self.load_kernel())
            .as_ref()
            .map_err(Clone::clone)
    }

    fn load_kernel(&self) -> Result<Kernel, AllocError> {
        use sys::CUdevice_attribute as A;
        let major = self.attribute_raw(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?;
        let minor = self.attribute_raw(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?;
        let name = CString::new("leaf_hashes").map_err(|_| AllocError::InvalidArgument {
            reason: "kernel name holds a NUL byte",
        })?;
        let mut last = None;
        for &image in KernelImage::candidates(major, minor) {
            match load_image(image) {
                Ok(module) => {
                    // SAFETY: `module` was just loaded and is not unloaded
                    // before self is dropped.
                    let function = unsafe { result::module::get_function(module, name.clone()) }
                        .map_err(|e| driver_error("cuModuleGetFunction", e))?;
                    tracing::info!(?image, major, minor, "loaded the leaf-hash kernel");
                    return Ok(Kernel { module, function });
                }
                Err(err) => {
                    tracing::warn!(?image, %err, "the driver refused a kernel image");
                    last = Some(err);
                }
            }
        }
        Err(last.unwrap_or(AllocError::InvalidArgument {
            reason: "no kernel image for this device",
        }))
    }

    /// Copies `src` to device address `at` through the pinned staging
    /// buffer; the context is bound.
    fn staged_to_device(&self, at: sys::CUdeviceptr, src: &[u8]) -> Result<(), AllocError> {
        let mut staging = self.staging.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(staging) = staging.as_mut() else {
            // SAFETY: `at..at + src.len()` was checked by the caller; the
            // copy is waited for below, before `src` can go away.
            unsafe { result::memcpy_htod_async(at, src, self.stream) }
                .map_err(|e| driver_error("cuMemcpyHtoDAsync", e))?;
            return self.sync();
        };
        let mut done = 0u64;
        for (k, piece) in src.chunks(STAGING_HALF).enumerate() {
            let half = k % 2;
            let queued = staging.wait(half).and_then(|()| {
                let slot = staging.slot(half, piece.len())?;
                slot.copy_from_slice(piece);
                // SAFETY: the device range lies inside the checked one; the
                // slot stays untouched until its event says the copy is done.
                unsafe { result::memcpy_htod_async(at + done, slot, self.stream) }
                    .map_err(|e| driver_error("cuMemcpyHtoDAsync", e))?;
                staging.record(half, self.stream)
            });
            if let Err(err) = queued {
                // Never leave a copy running on a failed call.
                let _ = self.sync();
                return Err(err);
            }
            done += piece.len() as u64;
        }
        self.sync()
    }

    /// Fills `dst` from device address `at` through the pinned staging
    /// buffer; the context is bound.
    fn staged_from_device(&self, at: sys::CUdeviceptr, dst: &mut [u8]) -> Result<(), AllocError> {
        let mut staging = self.staging.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(staging) = staging.as_mut() else {
            // SAFETY: `at..at + dst.len()` was checked by the caller; `dst`
            // is ours and the copy is waited for below.
            unsafe { result::memcpy_dtoh_async(dst, at, self.stream) }
                .map_err(|e| driver_error("cuMemcpyDtoHAsync", e))?;
            return self.sync();
        };
        let mut done = 0u64;
        for piece in dst.chunks_mut(STAGING_HALF) {
            let slot = staging.slot(0, piece.len())?;
            // SAFETY: the device range lies inside the checked one; the
            // slot is only read after the stream is synchronised.
            unsafe { result::memcpy_dtoh_async(slot, at + done, self.stream) }
                .map_err(|e| driver_error("cuMemcpyDtoHAsync", e))?;
            self.sync()?;
            piece.copy_from_slice(staging.slot(0, piece.len())?);
            done += piece.len() as u64;
        }
        Ok(())
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
        match self.bind() {
            Ok(_bound) => {
                let _ = self.sync();
                let staging = self
                    .staging
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                if let Some(staging) = staging {
                    staging.release();
                }
                if let Some(Ok(kernel)) = self.kernel.get() {
                    // SAFETY: loaded once in `load_kernel`, unloaded once here.
                    let _ = unsafe { result::module::unload(kernel.module) };
                }
                // SAFETY: created in `open`, destroyed once here.
                let _ = unsafe { result::stream::destroy(self.stream) };
            }
            Err(err) => tracing::warn!(%err, "cannot bind the CUDA context to clean up"),
        }
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
        let _bound = self.bind()?;
        let (free, total) = result::mem_get_info().map_err(|e| driver_error("cuMemGetInfo", e))?;
        Ok(MemoryInfo {
            total: total as u64,
            free: free as u64,
        })
    }

    fn alloc(&self, len: usize) -> Result<DevicePtr, AllocFailure> {
        let _bound = self.bind().map_err(AllocFailure::Driver)?;
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
        let _bound = self.bind()?;
        // SAFETY: `allocation` was returned by cuMemAlloc in this context
        // (same owner) and is consumed here, so it is freed exactly once;
        // every call waits for its own stream work, so none is in flight.
        unsafe { result::free_sync(allocation.pointer) }.map_err(|e| driver_error("cuMemFree", e))
    }

    fn memset_zero(&self, allocation: &DevicePtr, len: usize) -> Result<(), AllocError> {
        let at = self.address(allocation, 0, len)?;
        let _bound = self.bind()?;
        // SAFETY: `address` checked that `at..at + len` lies inside this
        // driver's live allocation (live while a `DevicePtr` exists); the
        // context is bound; the stream is waited for before returning.
        unsafe { result::memset_d8_async(at, 0, len, self.stream) }
            .map_err(|e| driver_error("cuMemsetD8Async", e))?;
        self.sync()
    }

    fn copy_to_device(
        &self,
        allocation: &DevicePtr,
        offset: u64,
        src: &[u8],
    ) -> Result<(), AllocError> {
        let at = self.address(allocation, offset, src.len())?;
        let _bound = self.bind()?;
        self.staged_to_device(at, src)
    }

    fn copy_from_device(
        &self,
        allocation: &DevicePtr,
        offset: u64,
        dst: &mut [u8],
    ) -> Result<(), AllocError> {
        let at = self.address(allocation, offset, dst.len())?;
        let _bound = self.bind()?;
        self.staged_from_device(at, dst)
    }

    fn uuid(&self) -> Result<String, AllocError> {
        let uuid = result::device::get_uuid(self.device)
            .map_err(|e| driver_error("cuDeviceGetUuid", e))?;
        Ok(format_uuid(uuid.bytes.map(|b| b as u8)))
    }

    fn pci_bus_id(&self) -> Result<String, AllocError> {
        let mut text = [0u8; 64];
        // SAFETY: the buffer holds `len` bytes and the driver writes a
        // NUL-terminated string of at most that many; the device came from
        // cuDeviceGet.
        unsafe { sys::cuDeviceGetPCIBusId(text.as_mut_ptr().cast(), 64, self.device) }
            .result()
            .map_err(|e| driver_error("cuDeviceGetPCIBusId", e))?;
        let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
        Ok(String::from_utf8_lossy(text.get(..end).unwrap_or_default()).into_owned())
    }

    fn leaf_hashes(
        &self,
        allocation: &DevicePtr,
        len: u64,
        chunk_bytes: u64,
        first: u64,
        count: u64,
    ) -> Result<Vec<LeafHash>, AllocError> {
        leaves::check_request(len, chunk_bytes, first, count)?;
        let len_bytes = usize::try_from(len).map_err(|_| AllocError::InvalidArgument {
            reason: "buffer length does not fit this host",
        })?;
        let data = self.address(allocation, 0, len_bytes)?;
        let out_len = usize::try_from(count)
            .ok()
            .and_then(|n| n.checked_mul(32))
            .ok_or(AllocError::InvalidArgument {
                reason: "too many leaves for this host",
            })?;
        let grid = u32::try_from(count.div_ceil(u64::from(KERNEL_BLOCK))).map_err(|_| {
            AllocError::InvalidArgument {
                reason: "too many leaves for one launch",
            }
        })?;
        if out_len == 0 {
            return Ok(Vec::new());
        }
        let _bound = self.bind()?;
        let function = self.kernel()?.function;
        let out = Scratch::alloc(out_len)?;
        let mut host = vec![0u8; out_len];
        let (mut data, mut len, mut chunk_bytes, mut first, mut count, mut out_ptr) =
            (data, len, chunk_bytes, first, count, out.pointer);
        let mut params: [*mut c_void; 6] = [
            (&raw mut data).cast(),
            (&raw mut len).cast(),
            (&raw mut chunk_bytes).cast(),
            (&raw mut first).cast(),
            (&raw mut count).cast(),
            (&raw mut out_ptr).cast(),
        ];
        // SAFETY: the kernel's parameters are (const u8*, u64, u64, u64,
        // u64, u8*), matching `params` in order; it reads only
        // `[data, data + len)`, inside this live allocation, and writes only
        // `32 * count` bytes of `out`, which holds that many. The launch is
        // on our stream after every earlier copy, and waited for below.
        let launched = unsafe {
            result::launch_kernel(
                function,
                (grid, 1, 1),
                (KERNEL_BLOCK, 1, 1),
                0,
                self.stream,
                &mut params,
            )
        }
        .map_err(|e| driver_error("cuLaunchKernel", e))
        .and_then(|()| {
            // SAFETY: `out` holds `out_len` bytes; `host` is ours; the
            // stream is synchronised before `host` is read.
            unsafe { result::memcpy_dtoh_async(&mut host, out.pointer, self.stream) }
                .map_err(|e| driver_error("cuMemcpyDtoHAsync", e))
        });
        let synced = self.sync();
        launched?;
        synced?;
        Ok(host
            .chunks_exact(32)
            .map(|leaf| {
                let mut hash = [0u8; 32];
                hash.copy_from_slice(leaf);
                hash
            })
            .collect())
    }

    fn placement(&self, allocation: &DevicePtr) -> Result<BufferPlacement, AllocError> {
        use sys::CUpointer_attribute as P;
        if allocation.owner != self.serial {
            return Err(foreign_allocation());
        }
        let _bound = self.bind()?;
        let mut kinds = [
            P::CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
            P::CU_POINTER_ATTRIBUTE_IS_MANAGED,
            P::CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL,
        ];
        // Zeroed 8-byte slots: the driver writes a 4-byte value into each,
        // so the low half (little endian) is the value whatever its size.
        let (mut memory, mut managed, mut ordinal) = (0u64, 0u64, 0u64);
        let mut data: [*mut c_void; 3] = [
            (&raw mut memory).cast(),
            (&raw mut managed).cast(),
            (&raw mut ordinal).cast(),
        ];
        // SAFETY: three attributes and three writable slots of 8 bytes;
        // the pointer is a live allocation of this context.
        unsafe {
            sys::cuPointerGetAttributes(
                3,
                kinds.as_mut_ptr(),
                data.as_mut_ptr(),
                allocation.pointer,
            )
        }
        .result()
        .map_err(|e| driver_error("cuPointerGetAttributes", e))?;
        Ok(BufferPlacement {
            memory: memory_kind(memory as u32),
            managed: managed as u32 != 0,
            device_ordinal: ordinal as u32,
        })
    }
}

/// `CU_POINTER_ATTRIBUTE_MEMORY_TYPE` as a [`MemoryKind`].
fn memory_kind(value: u32) -> MemoryKind {
    use sys::CUmemorytype as M;
    match value {
        v if v == M::CU_MEMORYTYPE_DEVICE as u32 => MemoryKind::Device,
        v if v == M::CU_MEMORYTYPE_HOST as u32 => MemoryKind::Host,
        v if v == M::CU_MEMORYTYPE_ARRAY as u32 => MemoryKind::Array,
        v if v == M::CU_MEMORYTYPE_UNIFIED as u32 => MemoryKind::Unified,
        _ => MemoryKind::Unknown,
    }
}

/// A UUID as `nvidia-smi -L` prints it: `GPU-` and 8-4-4-4-12 hex digits.
fn format_uuid(bytes: [u8; 16]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let part = |r: std::ops::Range<usize>| hex.get(r).unwrap_or_default().to_owned();
    format!(
        "GPU-{}-{}-{}-{}-{}",
        part(0..8),
        part(8..12),
        part(12..16),
        part(16..20),
        part(20..32)
    )
}

#[cfg(test)]
mod pure_tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    /// GA-010: the UUID reads as `nvidia-smi -L` prints it.
    #[test]
    fn ga_010_uuids_print_like_nvidia_smi() {
        let bytes = core::array::from_fn(|i| (i as u8) * 17);
        assert_eq!(
            format_uuid(bytes),
            "GPU-00112233-4455-6677-8899-aabbccddeeff"
        );
    }

    /// GA-024: each memory type maps to its kind; an unknown one is not
    /// taken for device memory.
    #[test]
    fn ga_024_memory_types_map_to_their_kinds() {
        assert_eq!(memory_kind(1), MemoryKind::Host);
        assert_eq!(memory_kind(2), MemoryKind::Device);
        assert_eq!(memory_kind(3), MemoryKind::Array);
        assert_eq!(memory_kind(4), MemoryKind::Unified);
        assert_eq!(memory_kind(0), MemoryKind::Unknown);
        assert_eq!(memory_kind(5), MemoryKind::Unknown);
    }

    /// GA-KERN-006: the cubin for the architecture first, the PTX always
    /// as the fallback; the embedded images are what the loader expects.
    #[test]
    fn ga_kern_006_images_are_chosen_by_compute_capability() {
        use KernelImage::{CubinSm80, CubinSm90, Ptx};
        assert_eq!(KernelImage::candidates(9, 0), [CubinSm90, Ptx]);
        assert_eq!(KernelImage::candidates(8, 0), [CubinSm80, Ptx]);
        assert_eq!(KernelImage::candidates(8, 9), [CubinSm80, Ptx]);
        assert_eq!(KernelImage::candidates(10, 0), [Ptx]);
        assert_eq!(KernelImage::candidates(7, 5), [Ptx]);
        assert!(PTX.ends_with('\0') && PTX.contains(".entry leaf_hashes"));
        assert_eq!(PTX.matches('\0').count(), 1);
        for cubin in [CUBIN_SM80, CUBIN_SM90] {
            assert_eq!(&cubin[..4], b"\x7fELF");
        }
    }
}

/// Pushes `context` on the calling thread.
fn push_context(context: sys::CUcontext) -> Result<(), AllocError> {
    // SAFETY: every context passed here was returned by
    // cuDevicePrimaryCtxRetain and is released only after its last user.
    unsafe { sys::cuCtxPushCurrent_v2(context) }
        .result()
        .map_err(|e| driver_error("cuCtxPushCurrent", e))
}

/// Loads one committed kernel image into the bound context.
fn load_image(image: KernelImage) -> Result<sys::CUmodule, AllocError> {
    let loaded = match image {
        // SAFETY: a NUL-terminated PTX text, alive for the call.
        KernelImage::Ptx => unsafe { result::module::load_data(PTX.as_ptr().cast()) },
        KernelImage::CubinSm80 | KernelImage::CubinSm90 => {
            let bytes = if image == KernelImage::CubinSm80 {
                CUBIN_SM80
            } else {
                CUBIN_SM90
            };
            // An ELF image, copied to 8-byte-aligned memory for the loader.
            let mut aligned = vec![0u64; bytes.len().div_ceil(8)];
            for (word, piece) in aligned.iter_mut().zip(bytes.chunks(8)) {
                let mut le = [0u8; 8];
                le.get_mut(..piece.len())
                    .unwrap_or_default()
                    .copy_from_slice(piece);
                *word = u64::from_le_bytes(le);
            }
            // SAFETY: a complete cubin (the committed file), alive for the
            // call; the driver copies what it keeps.
            unsafe { result::module::load_data(aligned.as_ptr().cast()) }
        }
    };
    loaded.map_err(|e| driver_error("cuModuleLoadData", e))
}

/// A temporary device allocation, freed when dropped (the context must be
/// bound while it lives).
struct Scratch {
    pointer: sys::CUdeviceptr,
}

impl Scratch {
    fn alloc(len: usize) -> Result<Self, AllocError> {
        // SAFETY: the context is bound by the caller; plain device memory.
        let pointer =
            unsafe { result::malloc_sync(len) }.map_err(|e| driver_error("cuMemAlloc", e))?;
        Ok(Self { pointer })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // SAFETY: allocated in `Scratch::alloc`, freed once here, after the
        // stream that used it was synchronised.
        if let Err(err) = unsafe { result::free_sync(self.pointer) } {
            tracing::warn!(error = ?err.0, "freeing the leaf-hash output failed");
        }
    }
}

impl Staging {
    /// Pinned host memory for two halves, and their events; the context is
    /// bound.
    fn new() -> Result<Self, AllocError> {
        // SAFETY: the context is bound; the memory is freed in `release`.
        let host = unsafe { result::malloc_host(2 * STAGING_HALF, 0) }
            .map_err(|e| driver_error("cuMemHostAlloc", e))?;
        let event = || {
            result::event::create(sys::CUevent_flags::CU_EVENT_DISABLE_TIMING)
                .map_err(|e| driver_error("cuEventCreate", e))
        };
        let staging = Self {
            host: host.cast(),
            events: [std::ptr::null_mut(); 2],
            recorded: [false; 2],
        };
        let mut staging = staging;
        for slot in 0..2 {
            match event() {
                Ok(e) => {
                    if let Some(target) = staging.events.get_mut(slot) {
                        *target = e;
                    }
                }
                Err(err) => {
                    staging.release();
                    return Err(err);
                }
            }
        }
        Ok(staging)
    }

    /// The first `len` bytes of half `half` (`len <= STAGING_HALF`).
    fn slot(&mut self, half: usize, len: usize) -> Result<&mut [u8], AllocError> {
        if half > 1 || len > STAGING_HALF {
            return Err(AllocError::InvalidArgument {
                reason: "staging slot out of range",
            });
        }
        // SAFETY: `host` holds 2 * STAGING_HALF pinned bytes until
        // `release`; `&mut self` makes this the only view of them, and
        // callers wait on the half's event before touching it.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.host.add(half * STAGING_HALF), len) })
    }

    /// Waits until the last copy that used half `half` has finished.
    fn wait(&mut self, half: usize) -> Result<(), AllocError> {
        let (Some(recorded), Some(&event)) = (self.recorded.get_mut(half), self.events.get(half))
        else {
            return Ok(());
        };
        if std::mem::take(recorded) {
            // SAFETY: the event was created in `new` and recorded.
            unsafe { result::event::synchronize(event) }
                .map_err(|e| driver_error("cuEventSynchronize", e))?;
        }
        Ok(())
    }

    /// Marks the end of the copy just queued from half `half`.
    fn record(&mut self, half: usize, stream: sys::CUstream) -> Result<(), AllocError> {
        let (Some(recorded), Some(&event)) = (self.recorded.get_mut(half), self.events.get(half))
        else {
            return Ok(());
        };
        // SAFETY: the event was created in `new`; the stream in `open`.
        unsafe { result::event::record(event, stream) }
            .map_err(|e| driver_error("cuEventRecord", e))?;
        *recorded = true;
        Ok(())
    }

    /// Frees the pinned memory and the events; the context is bound and
    /// the stream synchronised.
    fn release(self) {
        for event in self.events {
            if !event.is_null() {
                // SAFETY: created in `new`, destroyed once here.
                let _ = unsafe { result::event::destroy(event) };
            }
        }
        // SAFETY: allocated in `new`, freed once here; no copy uses it.
        let _ = unsafe { result::free_host(self.host.cast()) };
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
        let stream = {
            if let Err(err) = push_context(context) {
                // SAFETY: retained just above, released once here.
                let _ = unsafe { result::primary_ctx::release(device) };
                return Err(err);
            }
            let _bound = Bound {
                _driver: PhantomData,
            };
            match result::stream::create(result::stream::StreamKind::NonBlocking) {
                Ok(stream) => stream,
                Err(e) => {
                    // SAFETY: retained just above, released once here.
                    let _ = unsafe { result::primary_ctx::release(device) };
                    return Err(driver_error("cuStreamCreate", e));
                }
            }
        };
        let driver = Arc::new(CudaDriver {
            device,
            context,
            stream,
            staging: Mutex::new(None),
            kernel: OnceLock::new(),
            serial: NEXT_DRIVER.fetch_add(1, Ordering::Relaxed),
        });
        {
            let _bound = driver.bind()?;
            match Staging::new() {
                Ok(staging) => {
                    *driver
                        .staging
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(staging);
                }
                Err(err) => {
                    tracing::warn!(%err, "no pinned staging buffer; copying from pageable memory")
                }
            }
        }
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
    use crate::require_cuda;

    /// Runs on every machine: without a driver every entry point must say so
    /// with a typed error (and must not reach cudarc, which would panic).
    /// Under `VRAM_REQUIRE_CUDA=1` no driver is a failure.
    /// GA-014, GA-022.
    #[test]
    fn ga_014_ga_022_entry_points_check_for_the_driver_first() {
        if driver_present() {
            eprintln!("CUDA driver present: the no-driver path is not exercised on this machine");
            let count = device_count().unwrap();
            assert!(matches!(
                CudaDevice::open(count),
                Err(AllocError::NoSuchDevice { .. })
            ));
            return;
        }
        require_cuda::did_not_run(
            "entry points",
            "no CUDA driver found (checked the no-driver path)",
        );
        assert_eq!(device_count(), Err(AllocError::NoCudaDriver));
        assert_eq!(CudaDevice::open(0).unwrap_err(), AllocError::NoCudaDriver);
        // Cached: asking again gives the same answer without probing again.
        assert!(!driver_present());
    }
}
