//! `gpu-alloc`: device memory for sealed model weights.
//!
//! The crate's seam is the [`VramAllocator`] trait: allocate device memory
//! as an owned [`DeviceBuffer`] that frees itself on drop, copy bytes in and
//! read them back in bounded chunks, and report the memory and the device
//! properties a residency policy needs. Callers hold an
//! `Arc<dyn VramAllocator>` and never learn which backend is behind it:
//!
//! - [`CudaDevice`]: real device memory from `cuMemAlloc` (never managed
//!   memory) through `cudarc`.
//! - [`HostDevice`]: a device of a chosen capacity simulated in host memory,
//!   with fault injection; the default where there is no GPU, and what tests
//!   and CI use.
//!
//! [`open`] picks one from a [`BackendChoice`]. [`bench`](mod@bench) measures copy
//! throughput beside a host-memory baseline (the `copy_bench` example and
//! `vramctl bench copy`).
//!
//! # Key design decision
//! The CUDA driver is loaded at run time (cudarc with dynamic loading, see
//! `docs/adr-0001-cudarc.md`), so the crate builds and its binaries start on
//! machines without CUDA; there, opening CUDA returns
//! [`AllocError::NoCudaDriver`] instead of failing to link or panicking.
//! Device addresses never leave the backend: no `Debug`, `Display`, serde
//! output, error or log line shows one.
//!
//! # Example
//! ```
//! use gpu_alloc::{AllocError, HostDevice, HostDeviceConfig, VramAllocator};
//!
//! let device = HostDevice::new(HostDeviceConfig::with_capacity(10 << 20));
//! let mut buffer = device.allocate(4096)?;
//! buffer.write(0, b"weights")?;
//!
//! let mut back = Vec::new();
//! buffer.read_chunks(0, 7, 4, &mut |piece| {
//!     back.extend_from_slice(piece);
//!     Ok(())
//! })?;
//! assert_eq!(back, b"weights");
//!
//! // Over capacity: a typed, retriable error with the numbers.
//! let err = device.allocate(20 << 20).unwrap_err();
//! assert!(matches!(err, AllocError::OutOfMemory { requested, .. } if requested == 20 << 20));
//! assert!(err.is_retriable());
//!
//! drop(buffer); // frees the memory
//! assert_eq!(device.memory_info()?.free, 10 << 20);
//! # Ok::<(), AllocError>(())
//! ```

#![deny(missing_docs)]

pub mod bench;
mod buffer;
pub mod cuda;
mod driver_logic;
mod error;
mod host;
mod leaves;
mod properties;
// `VRAM_REQUIRE_CUDA=1` for the unit tests, read as the integration tests
// read it (GA-022).
#[cfg(test)]
#[path = "../../../test-support/require_cuda.rs"]
mod require_cuda;
mod select;

pub use buffer::{BufferId, DeviceBuffer};
pub use cuda::CudaDevice;
pub use error::AllocError;
pub use host::{DEFAULT_HOST_CAPACITY, HostDevice, HostDeviceConfig};
pub use leaves::{LeafHash, MAX_LEAVES_PER_CALL};
pub use properties::{
    Backend, BufferPlacement, CopyDirection, DeviceProperties, MemoryInfo, MemoryKind,
};
pub use select::{BackendChoice, device_count, open};

/// Device memory behind one device, whatever the backend (GA-001).
///
/// Object safe and `Send + Sync`, so one `Arc<dyn VramAllocator>` can be
/// shared by every thread of a worker.
pub trait VramAllocator: Send + Sync + std::fmt::Debug {
    /// Which backend this is.
    fn backend(&self) -> Backend;

    /// Index of the device among the backend's devices.
    fn device_index(&self) -> u32;

    /// The device's name, compute capability and residency-relevant flags.
    ///
    /// # Errors
    /// [`AllocError::Driver`] if the CUDA driver cannot be queried.
    fn properties(&self) -> Result<DeviceProperties, AllocError>;

    /// Total and free device memory now.
    ///
    /// # Errors
    /// [`AllocError::Driver`] if the CUDA driver cannot be queried.
    fn memory_info(&self) -> Result<MemoryInfo, AllocError>;

    /// Allocates `bytes` bytes of device memory, zeroed.
    ///
    /// # Errors
    /// [`AllocError::ZeroSize`] for 0 bytes, [`AllocError::OutOfMemory`]
    /// with requested and available bytes when the device cannot hold it,
    /// [`AllocError::Transient`] for a failure that may not recur,
    /// [`AllocError::Driver`] for other driver failures.
    fn allocate(&self, bytes: u64) -> Result<DeviceBuffer, AllocError>;
}
