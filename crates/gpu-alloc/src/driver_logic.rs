//! The CUDA backend's logic, in safe code over a seam a test can drive
//! without a GPU.
//!
//! [`DriverOps`] is the handful of driver calls the backend needs: allocate,
//! free, zero, copy at an offset, query free memory and device attributes.
//! `cuda.rs` implements it with thin cudarc calls (and holds all the
//! `unsafe`); the tests below implement it in host memory and record every
//! call. Everything else lives here, where those tests reach it:
//!
//! - refusing a request before the driver sees it (0 bytes, more than is
//!   free, a range outside the buffer) so errors carry the numbers (GA-004,
//!   GA-005, GA-007, GA-015);
//! - zeroing every allocation before it is handed out, and freeing it again
//!   when zeroing fails (GA-021);
//! - splitting copies into driver calls of at most [`COPY_CHUNK`] bytes at
//!   the right device offsets (GA-007, GA-008);
//! - freeing every allocation exactly once, when its buffer is dropped, even
//!   after the allocator is gone (GA-002);
//! - building [`DeviceProperties`] from the driver's attributes, with
//!   `allocations_managed: false` because memory comes from `cuMemAlloc`
//!   (GA-010, GA-015).
//!
//! An allocation handle ([`DriverOps::Allocation`]) is neither `Clone` nor
//! `Debug`: it is consumed by [`DriverOps::free`], so it cannot be freed
//! twice or used after the free, and it never reaches a log (GA-003).

use std::sync::Arc;

use crate::buffer::{BufferId, BufferStorage, DeviceBuffer};
use crate::error::AllocError;
use crate::leaves::LeafHash;
use crate::properties::{Backend, BufferPlacement, CopyDirection, DeviceProperties, MemoryInfo};

/// Largest single driver copy. Bounds what the driver stages internally for
/// pageable host memory; callers can still pass slices of any size.
pub(crate) const COPY_CHUNK: usize = 64 << 20;

/// The device attributes [`device_properties`] asks the driver for; each
/// names the `CU_DEVICE_ATTRIBUTE_*` it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Attribute {
    /// `CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR`.
    ComputeCapabilityMajor,
    /// `CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR`.
    ComputeCapabilityMinor,
    /// `CU_DEVICE_ATTRIBUTE_INTEGRATED`.
    Integrated,
    /// `CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING`.
    UnifiedAddressing,
    /// `CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY`.
    ManagedMemory,
    /// `CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS`.
    PageableMemoryAccess,
    /// `CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS_USES_HOST_PAGE_TABLES`.
    PageableMemoryAccessUsesHostPageTables,
    /// `CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS`.
    ConcurrentManagedAccess,
}

/// Why [`DriverOps::alloc`] failed.
pub(crate) enum AllocFailure {
    /// The driver is out of device memory (`CUDA_ERROR_OUT_OF_MEMORY`):
    /// someone took the memory between the free-memory check and the call.
    OutOfMemory,
    /// Any other failure, as a typed error.
    Driver(AllocError),
}

/// The driver calls the backend is built from. Every call binds the
/// device's context first where the driver needs one (GA-016).
///
/// Implementations must refuse, with an error, a range outside the
/// allocation or an allocation of another driver, so that safe callers can
/// never make the driver touch memory it should not; the logic here checks
/// ranges itself before calling.
pub(crate) trait DriverOps: Send + Sync + 'static {
    /// One live device allocation; only [`DriverOps::alloc`] makes one and
    /// only [`DriverOps::free`] ends one.
    type Allocation: Send + Sync + 'static;

    /// The device's name (`cuDeviceGetName`).
    fn name(&self) -> Result<String, AllocError>;
    /// The device's memory in total (`cuDeviceTotalMem`).
    fn total_memory(&self) -> Result<u64, AllocError>;
    /// The GPU's UUID as `GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`
    /// (`cuDeviceGetUuid`).
    fn uuid(&self) -> Result<String, AllocError>;
    /// The GPU's PCI bus id (`cuDeviceGetPCIBusId`).
    fn pci_bus_id(&self) -> Result<String, AllocError>;
    /// One device attribute (`cuDeviceGetAttribute`).
    fn attribute(&self, attribute: Attribute) -> Result<i32, AllocError>;
    /// Free and total device memory now (`cuMemGetInfo`).
    fn mem_get_info(&self) -> Result<MemoryInfo, AllocError>;
    /// `len` bytes of plain device memory (`cuMemAlloc`), contents
    /// undefined.
    fn alloc(&self, len: usize) -> Result<Self::Allocation, AllocFailure>;
    /// Frees an allocation (`cuMemFree`). On an error the memory is leaked,
    /// never freed later.
    fn free(&self, allocation: Self::Allocation) -> Result<(), AllocError>;
    /// Sets the first `len` bytes of the allocation to 0 (`cuMemsetD8`).
    fn memset_zero(&self, allocation: &Self::Allocation, len: usize) -> Result<(), AllocError>;
    /// Copies `src` to the allocation at `offset` (`cuMemcpyHtoD`).
    fn copy_to_device(
        &self,
        allocation: &Self::Allocation,
        offset: u64,
        src: &[u8],
    ) -> Result<(), AllocError>;
    /// Fills `dst` from the allocation at `offset` (`cuMemcpyDtoH`).
    fn copy_from_device(
        &self,
        allocation: &Self::Allocation,
        offset: u64,
        dst: &mut [u8],
    ) -> Result<(), AllocError>;
    /// The leaf hashes of chunks `first..first + count` of the allocation's
    /// first `len` bytes, computed on the device (the leaf-hash kernel).
    /// The request is checked against `len` first.
    fn leaf_hashes(
        &self,
        allocation: &Self::Allocation,
        len: u64,
        chunk_bytes: u64,
        first: u64,
        count: u64,
    ) -> Result<Vec<LeafHash>, AllocError>;
    /// Where the allocation's memory is (`cuPointerGetAttributes`).
    fn placement(&self, allocation: &Self::Allocation) -> Result<BufferPlacement, AllocError>;
}

/// The properties of the driver's device (GA-010). `allocations_managed` is
/// `false` whatever the device supports: [`DriverAllocator`] allocates with
/// `cuMemAlloc` only, never managed memory (GA-015).
pub(crate) fn device_properties<D: DriverOps>(driver: &D) -> Result<DeviceProperties, AllocError> {
    let flag = |attribute| driver.attribute(attribute).map(|v| v != 0);
    let major = driver.attribute(Attribute::ComputeCapabilityMajor)?;
    let minor = driver.attribute(Attribute::ComputeCapabilityMinor)?;
    Ok(DeviceProperties {
        name: driver.name()?,
        compute_capability: (
            u32::try_from(major).unwrap_or(0),
            u32::try_from(minor).unwrap_or(0),
        ),
        integrated: flag(Attribute::Integrated)?,
        unified_addressing: flag(Attribute::UnifiedAddressing)?,
        managed_memory: flag(Attribute::ManagedMemory)?,
        pageable_memory_access: flag(Attribute::PageableMemoryAccess)?,
        pageable_memory_access_uses_host_page_tables: flag(
            Attribute::PageableMemoryAccessUsesHostPageTables,
        )?,
        concurrent_managed_access: flag(Attribute::ConcurrentManagedAccess)?,
        // Every allocation goes through cuMemAlloc: never managed memory.
        allocations_managed: false,
        total_memory: driver.total_memory()?,
        uuid: Some(driver.uuid()?),
        pci_bus_id: Some(driver.pci_bus_id()?),
    })
}

/// Device memory of one device through a [`DriverOps`]: what
/// [`crate::CudaDevice`] does, minus the driver calls.
pub(crate) struct DriverAllocator<D: DriverOps> {
    index: u32,
    driver: Arc<D>,
    copy_chunk: usize,
}

impl<D: DriverOps> DriverAllocator<D> {
    /// Device `index`, reached through `driver`. Buffers share the driver,
    /// so they can free their memory after the allocator is gone.
    pub(crate) fn new(index: u32, driver: Arc<D>) -> Self {
        Self {
            index,
            driver,
            copy_chunk: COPY_CHUNK,
        }
    }

    /// The same, with driver copies of at most `copy_chunk` bytes (at least
    /// 1), so tests can see the chunking without 64 MiB buffers.
    #[cfg(test)]
    fn with_copy_chunk(mut self, copy_chunk: usize) -> Self {
        self.copy_chunk = copy_chunk.max(1);
        self
    }

    /// Index of the device among the driver's devices.
    pub(crate) fn index(&self) -> u32 {
        self.index
    }

    /// See [`device_properties`].
    pub(crate) fn properties(&self) -> Result<DeviceProperties, AllocError> {
        device_properties(&*self.driver)
    }

    /// Total and free device memory now (GA-009).
    pub(crate) fn memory_info(&self) -> Result<MemoryInfo, AllocError> {
        self.driver.mem_get_info()
    }

    /// `bytes` bytes of zeroed device memory as a [`DeviceBuffer`].
    pub(crate) fn allocate(&self, bytes: u64) -> Result<DeviceBuffer, AllocError> {
        let storage = self.allocate_storage(bytes)?;
        let id = storage.id;
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

    /// The storage behind [`DriverAllocator::allocate`]: checked, allocated
    /// and zeroed; freed again on any error after the allocation.
    fn allocate_storage(&self, bytes: u64) -> Result<DriverStorage<D>, AllocError> {
        if bytes == 0 {
            return Err(AllocError::ZeroSize);
        }
        // Refuse up front so the error carries the numbers (the driver's own
        // out-of-memory error does not) (GA-005, GA-015).
        let free = self.memory_info()?.free;
        let out_of_memory = AllocError::OutOfMemory {
            requested: bytes,
            available: free,
        };
        if bytes > free {
            return Err(out_of_memory);
        }
        let len = usize::try_from(bytes).map_err(|_| out_of_memory)?;
        let allocation = match self.driver.alloc(len) {
            Ok(allocation) => allocation,
            Err(AllocFailure::OutOfMemory) => {
                // Another user took the memory between the check and the
                // call, or the free memory (device-wide, counted in 2 MiB
                // pages) holds no range this large. Either way less than
                // `bytes` can be had: never report more (GA-005).
                let free = self.memory_info().map(|m| m.free).unwrap_or(0);
                return Err(AllocError::OutOfMemory {
                    requested: bytes,
                    available: free.min(bytes.saturating_sub(1)),
                });
            }
            Err(AllocFailure::Driver(err)) => return Err(err),
        };
        // From here the storage owns the memory: any early return frees it.
        let storage = DriverStorage {
            id: BufferId::next(),
            len: bytes,
            allocation: Some(allocation),
            driver: Arc::clone(&self.driver),
            copy_chunk: self.copy_chunk,
        };
        // Zero it so no buffer ever shows an earlier tenant's bytes (GA-021).
        storage.driver.memset_zero(storage.allocation()?, len)?;
        Ok(storage)
    }
}

/// Device memory behind one buffer. Holds the allocation handle, so it has
/// no `Debug` and is never logged (GA-003).
struct DriverStorage<D: DriverOps> {
    id: BufferId,
    len: u64,
    /// `Some` until the drop hands it to [`DriverOps::free`].
    allocation: Option<D::Allocation>,
    driver: Arc<D>,
    copy_chunk: usize,
}

impl<D: DriverOps> DriverStorage<D> {
    fn allocation(&self) -> Result<&D::Allocation, AllocError> {
        self.allocation
            .as_ref()
            .ok_or(AllocError::NoSuchBuffer { id: self.id.get() })
    }

    /// The allocation, once `offset..offset + len` is known to lie inside
    /// it. `DeviceBuffer` checks the same range first; checking again here
    /// keeps every driver copy in bounds whoever calls (GA-007).
    fn checked(&self, offset: u64, len: usize) -> Result<&D::Allocation, AllocError> {
        let len = len as u64;
        match offset.checked_add(len) {
            Some(end) if end <= self.len => self.allocation(),
            _ => Err(AllocError::OutOfBounds {
                offset,
                len,
                buffer_len: self.len,
            }),
        }
    }
}

/// A failed driver copy as the caller sees it: the direction, the bytes of
/// the failed driver call and the driver's error.
fn copy_failed(direction: CopyDirection, len: usize, err: &AllocError) -> AllocError {
    AllocError::CopyFailed {
        direction,
        len: len as u64,
        reason: err.to_string(),
    }
}

impl<D: DriverOps> BufferStorage for DriverStorage<D> {
    fn write(&mut self, offset: u64, src: &[u8]) -> Result<(), AllocError> {
        let allocation = self.checked(offset, src.len())?;
        let mut at = offset;
        for piece in src.chunks(self.copy_chunk) {
            self.driver
                .copy_to_device(allocation, at, piece)
                .map_err(|e| copy_failed(CopyDirection::HostToDevice, piece.len(), &e))?;
            at += piece.len() as u64;
        }
        Ok(())
    }

    fn read(&self, offset: u64, dst: &mut [u8]) -> Result<(), AllocError> {
        let allocation = self.checked(offset, dst.len())?;
        let mut at = offset;
        for piece in dst.chunks_mut(self.copy_chunk) {
            let n = piece.len();
            self.driver
                .copy_from_device(allocation, at, piece)
                .map_err(|e| copy_failed(CopyDirection::DeviceToHost, n, &e))?;
            at += n as u64;
        }
        Ok(())
    }

    fn leaf_hashes(
        &self,
        chunk_bytes: u64,
        first: u64,
        count: u64,
    ) -> Result<Vec<LeafHash>, AllocError> {
        let allocation = self.allocation()?;
        self.driver
            .leaf_hashes(allocation, self.len, chunk_bytes, first, count)
    }

    fn placement(&self) -> Result<BufferPlacement, AllocError> {
        self.driver.placement(self.allocation()?)
    }
}

impl<D: DriverOps> Drop for DriverStorage<D> {
    fn drop(&mut self) {
        // Taken, so it is freed exactly once, here (GA-002). Never panic:
        // a failed free is logged and the memory leaked.
        let Some(allocation) = self.allocation.take() else {
            return;
        };
        match self.driver.free(allocation) {
            Ok(()) => tracing::debug!(
                buffer = self.id.get(),
                bytes = self.len,
                "CUDA buffer freed"
            ),
            Err(err) => tracing::warn!(
                buffer = self.id.get(),
                bytes = self.len,
                %err,
                "freeing CUDA buffer failed; memory may be leaked"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    use std::collections::HashMap;
    use std::sync::{Mutex, MutexGuard, PoisonError};

    use super::*;

    /// One call the fake driver received, with the numbers it was given.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Call {
        Name,
        TotalMemory,
        Attribute(Attribute),
        MemGetInfo,
        Alloc { id: u64, len: usize },
        Free { id: u64 },
        MemsetZero { id: u64, len: usize },
        ToDevice { id: u64, offset: u64, len: usize },
        FromDevice { id: u64, offset: u64, len: usize },
        LeafHashes { id: u64, first: u64, count: u64 },
        Placement { id: u64 },
    }

    impl Call {
        fn is_copy(&self) -> bool {
            matches!(self, Self::ToDevice { .. } | Self::FromDevice { .. })
        }
    }

    /// What a new allocation holds before zeroing: an earlier tenant's bytes.
    const STALE: u8 = 0xA5;

    /// A driver in host memory that records every call. Fresh allocations
    /// hold [`STALE`] bytes, as real device memory may; a copy outside an
    /// allocation panics, as it would corrupt a real device.
    struct Fake {
        state: Mutex<State>,
    }

    struct State {
        total: u64,
        used: u64,
        next_id: u64,
        memory: HashMap<u64, Vec<u8>>,
        calls: Vec<Call>,
        attributes: HashMap<Attribute, i32>,
        /// The next alloc fails as out of memory after someone else took
        /// this many bytes.
        race_next_alloc: Option<u64>,
        fail_next_alloc: bool,
        fail_next_memset: bool,
        fail_next_copy: bool,
        fail_next_free: bool,
    }

    /// A fake allocation: an id, neither `Clone` nor `Copy`.
    struct Handle(u64);

    fn driver_failure(call: &'static str) -> AllocError {
        AllocError::Driver {
            call,
            name: "CUDA_ERROR_INJECTED".to_owned(),
            description: "injected by the fake driver".to_owned(),
        }
    }

    impl Fake {
        fn new(total: u64) -> Arc<Self> {
            Arc::new(Self {
                state: Mutex::new(State {
                    total,
                    used: 0,
                    next_id: 1,
                    memory: HashMap::new(),
                    calls: Vec::new(),
                    attributes: HashMap::new(),
                    race_next_alloc: None,
                    fail_next_alloc: false,
                    fail_next_memset: false,
                    fail_next_copy: false,
                    fail_next_free: false,
                }),
            })
        }

        fn state(&self) -> MutexGuard<'_, State> {
            self.state.lock().unwrap_or_else(PoisonError::into_inner)
        }

        fn calls(&self) -> Vec<Call> {
            self.state().calls.clone()
        }

        fn take_calls(&self) -> Vec<Call> {
            std::mem::take(&mut self.state().calls)
        }

        /// The contents of allocation `id`, straight from "device memory".
        fn peek(&self, id: u64) -> Vec<u8> {
            self.state().memory[&id].clone()
        }

        fn allocs(&self) -> Vec<u64> {
            let calls = self.calls();
            calls
                .iter()
                .filter_map(|c| match c {
                    Call::Alloc { id, .. } => Some(*id),
                    _ => None,
                })
                .collect()
        }

        fn frees(&self) -> Vec<u64> {
            let calls = self.calls();
            calls
                .iter()
                .filter_map(|c| match c {
                    Call::Free { id } => Some(*id),
                    _ => None,
                })
                .collect()
        }
    }

    /// The range `offset..offset + len` of allocation `id`; panics when the
    /// driver was asked to touch bytes outside it.
    fn span(state: &mut State, id: u64, offset: u64, len: usize) -> &mut [u8] {
        let memory = state
            .memory
            .get_mut(&id)
            .unwrap_or_else(|| panic!("driver call on allocation {id}, which is not live"));
        let start = usize::try_from(offset).unwrap();
        let size = memory.len();
        memory.get_mut(start..start + len).unwrap_or_else(|| {
            panic!("driver copy of {len} bytes at {offset} outside the allocation of {size}")
        })
    }

    impl DriverOps for Fake {
        type Allocation = Handle;

        fn name(&self) -> Result<String, AllocError> {
            self.state().calls.push(Call::Name);
            Ok("Fake GPU 80GB".to_owned())
        }

        fn total_memory(&self) -> Result<u64, AllocError> {
            let mut state = self.state();
            state.calls.push(Call::TotalMemory);
            Ok(state.total)
        }

        fn attribute(&self, attribute: Attribute) -> Result<i32, AllocError> {
            let mut state = self.state();
            state.calls.push(Call::Attribute(attribute));
            Ok(state.attributes.get(&attribute).copied().unwrap_or(0))
        }

        fn mem_get_info(&self) -> Result<MemoryInfo, AllocError> {
            let mut state = self.state();
            state.calls.push(Call::MemGetInfo);
            Ok(MemoryInfo {
                total: state.total,
                free: state.total - state.used,
            })
        }

        fn alloc(&self, len: usize) -> Result<Handle, AllocFailure> {
            let mut state = self.state();
            let id = state.next_id;
            state.next_id += 1;
            if let Some(taken) = state.race_next_alloc.take() {
                state.used += taken;
                return Err(AllocFailure::OutOfMemory);
            }
            if std::mem::take(&mut state.fail_next_alloc) {
                return Err(AllocFailure::Driver(driver_failure("cuMemAlloc")));
            }
            if len as u64 > state.total - state.used {
                return Err(AllocFailure::OutOfMemory);
            }
            state.calls.push(Call::Alloc { id, len });
            state.used += len as u64;
            state.memory.insert(id, vec![STALE; len]);
            Ok(Handle(id))
        }

        fn free(&self, allocation: Handle) -> Result<(), AllocError> {
            let mut state = self.state();
            state.calls.push(Call::Free { id: allocation.0 });
            if std::mem::take(&mut state.fail_next_free) {
                return Err(driver_failure("cuMemFree"));
            }
            let memory = state
                .memory
                .remove(&allocation.0)
                .unwrap_or_else(|| panic!("cuMemFree of allocation {}, not live", allocation.0));
            state.used -= memory.len() as u64;
            Ok(())
        }

        fn memset_zero(&self, allocation: &Handle, len: usize) -> Result<(), AllocError> {
            let mut state = self.state();
            state.calls.push(Call::MemsetZero {
                id: allocation.0,
                len,
            });
            if std::mem::take(&mut state.fail_next_memset) {
                return Err(driver_failure("cuMemsetD8"));
            }
            span(&mut state, allocation.0, 0, len).fill(0);
            Ok(())
        }

        fn copy_to_device(
            &self,
            allocation: &Handle,
            offset: u64,
            src: &[u8],
        ) -> Result<(), AllocError> {
            let mut state = self.state();
            state.calls.push(Call::ToDevice {
                id: allocation.0,
                offset,
                len: src.len(),
            });
            if std::mem::take(&mut state.fail_next_copy) {
                return Err(driver_failure("cuMemcpyHtoD"));
            }
            span(&mut state, allocation.0, offset, src.len()).copy_from_slice(src);
            Ok(())
        }

        fn copy_from_device(
            &self,
            allocation: &Handle,
            offset: u64,
            dst: &mut [u8],
        ) -> Result<(), AllocError> {
            let mut state = self.state();
            state.calls.push(Call::FromDevice {
                id: allocation.0,
                offset,
                len: dst.len(),
            });
            if std::mem::take(&mut state.fail_next_copy) {
                return Err(driver_failure("cuMemcpyDtoH"));
            }
            dst.copy_from_slice(span(&mut state, allocation.0, offset, dst.len()));
            Ok(())
        }

        fn uuid(&self) -> Result<String, AllocError> {
            Ok("GPU-00000000-1111-2222-3333-444444444444".to_owned())
        }

        fn pci_bus_id(&self) -> Result<String, AllocError> {
            Ok("0000:65:00.0".to_owned())
        }

        /// The host's leaves of the fake "device memory", as the kernel
        /// would compute them there.
        fn leaf_hashes(
            &self,
            allocation: &Handle,
            len: u64,
            chunk_bytes: u64,
            first: u64,
            count: u64,
        ) -> Result<Vec<LeafHash>, AllocError> {
            let mut state = self.state();
            state.calls.push(Call::LeafHashes {
                id: allocation.0,
                first,
                count,
            });
            if std::mem::take(&mut state.fail_next_copy) {
                return Err(driver_failure("cuLaunchKernel"));
            }
            let bytes = span(&mut state, allocation.0, 0, usize::try_from(len).unwrap());
            crate::leaves::host_leaves(bytes, chunk_bytes, first, count)
        }

        fn placement(&self, allocation: &Handle) -> Result<BufferPlacement, AllocError> {
            self.state()
                .calls
                .push(Call::Placement { id: allocation.0 });
            Ok(BufferPlacement {
                memory: crate::MemoryKind::Device,
                managed: false,
                device_ordinal: 0,
            })
        }
    }

    const TOTAL: u64 = 1 << 20;

    /// A fake device of 1 MiB with driver copies of at most 7 bytes.
    fn setup() -> (Arc<Fake>, DriverAllocator<Fake>) {
        let fake = Fake::new(TOTAL);
        let allocator = DriverAllocator::new(0, Arc::clone(&fake)).with_copy_chunk(7);
        (fake, allocator)
    }

    /// Bytes that differ at every offset nearby, so a shifted read shows.
    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8 + 1).collect()
    }

    /// The id of the only allocation the fake has made since its calls were
    /// last taken.
    fn only_alloc(fake: &Fake) -> u64 {
        let allocs = fake.allocs();
        assert_eq!(allocs.len(), 1, "{:?}", fake.calls());
        allocs[0]
    }

    /// Checks that `calls` are copies of allocation `id` covering exactly
    /// `offset..offset + len`, in order, each at most `chunk` bytes.
    fn assert_copies_cover(calls: &[Call], id: u64, offset: u64, len: usize, chunk: usize) {
        let mut at = offset;
        for call in calls {
            let (Call::ToDevice {
                id: got,
                offset: o,
                len: n,
            }
            | Call::FromDevice {
                id: got,
                offset: o,
                len: n,
            }) = call
            else {
                panic!("expected only copies, got {call:?} in {calls:?}");
            };
            assert_eq!(
                (*got, *o),
                (id, at),
                "copy at the wrong offset in {calls:?}"
            );
            assert!(*n >= 1 && *n <= chunk, "copy of {n} bytes in {calls:?}");
            at += *n as u64;
        }
        assert_eq!(at, offset + len as u64, "copies stop short in {calls:?}");
    }

    /// GA-021: the driver's memory holds stale bytes, and every buffer is
    /// zeroed over its whole length, right after `cuMemAlloc` and before it
    /// is handed out.
    #[test]
    fn ga_021_every_allocation_is_zeroed_before_it_is_handed_out() {
        let (fake, allocator) = setup();
        for bytes in [1u64, 7, 8, 1000, 4096] {
            fake.take_calls();
            let buffer = allocator.allocate(bytes).unwrap();
            let id = only_alloc(&fake);
            let len = usize::try_from(bytes).unwrap();
            assert_eq!(
                fake.calls(),
                [
                    Call::MemGetInfo,
                    Call::Alloc { id, len },
                    Call::MemsetZero { id, len },
                ]
            );
            assert!(fake.peek(id).iter().all(|&b| b == 0));
            let mut back = vec![1u8; len];
            buffer.read(0, &mut back).unwrap();
            assert!(
                back.iter().all(|&b| b == 0),
                "{bytes}-byte buffer not zeroed"
            );
        }
    }

    /// GA-021, GA-002: when zeroing fails the allocation is freed once and
    /// the driver's error comes back unchanged; nothing stays allocated.
    #[test]
    fn ga_021_ga_002_a_failed_zeroing_frees_the_allocation() {
        let (fake, allocator) = setup();
        fake.state().fail_next_memset = true;
        let err = allocator.allocate(100).unwrap_err();
        assert_eq!(err, driver_failure("cuMemsetD8"));
        let id = only_alloc(&fake);
        assert_eq!(fake.frees(), [id]);
        assert_eq!(allocator.memory_info().unwrap().free, TOTAL);
        assert!(fake.state().memory.is_empty());
    }

    /// GA-007: writes and reads go to the device at the buffer offset, in
    /// driver copies of at most the copy chunk, whatever the offsets and
    /// lengths.
    #[test]
    fn ga_007_writes_and_reads_use_the_right_device_offsets() {
        let (fake, allocator) = setup();
        let len = 1000usize;
        let data = pattern(len);
        let mut buffer = allocator.allocate(len as u64).unwrap();
        let id = only_alloc(&fake);

        // Written in uneven pieces at odd offsets, covering every byte.
        let mut offset = 0usize;
        for (i, size) in [1usize, 6, 7, 8, 13, 100, 1].iter().cycle().enumerate() {
            if offset == len {
                break;
            }
            let size = (*size + i % 3).min(len - offset);
            fake.take_calls();
            buffer
                .write(offset as u64, &data[offset..offset + size])
                .unwrap();
            assert_copies_cover(&fake.calls(), id, offset as u64, size, 7);
            offset += size;
        }
        assert_eq!(
            fake.peek(id),
            data,
            "device memory differs from what was written"
        );

        for (offset, size) in [
            (0usize, 1usize),
            (1, 6),
            (3, 7),
            (5, 8),
            (13, 15),
            (17, 100),
            (998, 2),
            (999, 1),
            (0, 1000),
        ] {
            fake.take_calls();
            let mut back = vec![0u8; size];
            buffer.read(offset as u64, &mut back).unwrap();
            assert_eq!(back, data[offset..offset + size], "read {size} at {offset}");
            assert_copies_cover(&fake.calls(), id, offset as u64, size, 7);
        }

        // An overwrite in the middle changes exactly that range.
        buffer.write(501, &[0xEE; 9]).unwrap();
        let mut expected = data;
        expected[501..510].fill(0xEE);
        assert_eq!(fake.peek(id), expected);
    }

    /// GA-008: `read_chunks` delivers the range in order at odd offsets and
    /// chunk sizes, each piece read from the device where it belongs.
    #[test]
    fn ga_008_read_chunks_reads_each_piece_from_its_offset() {
        let (fake, allocator) = setup();
        let data = pattern(1000);
        let mut buffer = allocator.allocate(1000).unwrap();
        buffer.write(0, &data).unwrap();
        let id = only_alloc(&fake);
        for chunk in [1usize, 3, 7, 8, 64, 999, 4096] {
            for (offset, len) in [(0usize, 1000usize), (1, 998), (13, 77), (999, 1), (500, 0)] {
                fake.take_calls();
                let mut back = Vec::new();
                buffer
                    .read_chunks(offset as u64, len as u64, chunk, &mut |piece| {
                        assert!(!piece.is_empty() && piece.len() <= chunk);
                        back.extend_from_slice(piece);
                        Ok(())
                    })
                    .unwrap();
                assert_eq!(
                    back,
                    data[offset..offset + len],
                    "chunk {chunk}, {len} at {offset}"
                );
                assert_copies_cover(&fake.calls(), id, offset as u64, len, chunk.min(7));
            }
        }
    }

    /// GA-008: without a test chunk, one driver copy is at most 64 MiB and
    /// a larger one is split at the 64 MiB offset.
    #[test]
    fn ga_008_driver_copies_are_at_most_64_mib() {
        let fake = Fake::new(1 << 30);
        let allocator = DriverAllocator::new(0, Arc::clone(&fake));
        let len = COPY_CHUNK + 3;
        let mut buffer = allocator.allocate(len as u64).unwrap();
        let id = only_alloc(&fake);
        fake.take_calls();
        let mut data = vec![0u8; len];
        data[COPY_CHUNK..].copy_from_slice(&[1, 2, 3]);
        buffer.write(0, &data).unwrap();
        buffer.read(1, &mut data[..COPY_CHUNK + 2]).unwrap();
        assert_eq!(
            fake.calls(),
            [
                Call::ToDevice {
                    id,
                    offset: 0,
                    len: COPY_CHUNK
                },
                Call::ToDevice {
                    id,
                    offset: COPY_CHUNK as u64,
                    len: 3
                },
                Call::FromDevice {
                    id,
                    offset: 1,
                    len: COPY_CHUNK
                },
                Call::FromDevice {
                    id,
                    offset: COPY_CHUNK as u64 + 1,
                    len: 2
                },
            ]
        );
        assert_eq!(data[COPY_CHUNK - 2..COPY_CHUNK + 2], [0, 1, 2, 3]);
    }

    /// GA-007: a range outside the buffer, overflowing ones included, is
    /// refused with `OutOfBounds` before any driver call, by the buffer and
    /// by the storage itself; nothing changes.
    #[test]
    fn ga_007_out_of_bounds_is_refused_before_any_driver_call() {
        let (fake, allocator) = setup();
        let mut buffer = allocator.allocate(100).unwrap();
        let id = only_alloc(&fake);
        buffer.write(0, &pattern(100)).unwrap();
        fake.take_calls();

        let oob = |r: Result<(), AllocError>| matches!(r, Err(AllocError::OutOfBounds { .. }));
        let mut byte = [0u8; 1];
        let mut two = [0u8; 2];
        assert!(oob(buffer.write(99, &[1, 2])));
        assert!(oob(buffer.write(100, &[1])));
        assert!(oob(buffer.write(u64::MAX, &[1])));
        assert!(oob(buffer.write(101, &[])));
        assert!(oob(buffer.read(99, &mut two)));
        assert!(oob(buffer.read(100, &mut byte)));
        assert!(oob(buffer.read(u64::MAX, &mut byte)));
        assert!(oob(buffer.read_chunks(90, 11, 4, &mut |_| Ok(()))));
        assert!(oob(buffer.read_chunks(1, u64::MAX, 4, &mut |_| Ok(()))));

        let mut storage = allocator.allocate_storage(100).unwrap();
        fake.take_calls();
        assert!(oob(storage.write(99, &[1, 2])));
        assert!(oob(storage.write(u64::MAX, &[1])));
        assert!(oob(storage.read(99, &mut two)));
        assert!(oob(storage.read(u64::MAX, &mut byte)));

        assert_eq!(fake.calls(), [], "a driver call for an out-of-bounds range");
        assert_eq!(fake.peek(id), pattern(100));
    }

    /// GA-007, GA-013 (as on the simulated device): a failed driver copy is
    /// `CopyFailed` with its direction, the bytes of that driver call and
    /// the driver's error, and stops the copy.
    #[test]
    fn ga_007_a_failed_copy_is_copy_failed_and_stops() {
        let (fake, allocator) = setup();
        let mut buffer = allocator.allocate(100).unwrap();
        fake.take_calls();
        fake.state().fail_next_copy = true;
        let err = buffer.write(10, &[1; 20]).unwrap_err();
        match err {
            AllocError::CopyFailed {
                direction: CopyDirection::HostToDevice,
                len: 7,
                reason,
            } => assert!(reason.contains("cuMemcpyHtoD"), "{reason}"),
            other => panic!("expected a host-to-device CopyFailed, got {other}"),
        }
        assert_eq!(fake.calls().iter().filter(|c| c.is_copy()).count(), 1);

        fake.state().fail_next_copy = true;
        let err = buffer.read(0, &mut [0; 3]).unwrap_err();
        assert!(
            matches!(
                err,
                AllocError::CopyFailed {
                    direction: CopyDirection::DeviceToHost,
                    len: 3,
                    ..
                }
            ),
            "{err}"
        );
    }

    /// GA-002, GA-016: every allocation is freed exactly once, when its
    /// buffer is dropped, in any order and on any thread.
    #[test]
    fn ga_002_every_allocation_is_freed_exactly_once_on_drop() {
        let (fake, allocator) = setup();
        let mut buffers: Vec<_> = (1..=6u64)
            .map(|i| allocator.allocate(i * 10).unwrap())
            .collect();
        let mut allocated = fake.allocs();
        assert_eq!(allocated.len(), 6);
        assert!(fake.frees().is_empty());
        assert_eq!(allocator.memory_info().unwrap().free, TOTAL - 210);

        drop(buffers.remove(3));
        assert_eq!(fake.frees(), [allocated[3]]);
        let last = buffers.pop().unwrap();
        std::thread::spawn(move || drop(last)).join().unwrap();
        drop(buffers);

        let mut freed = fake.frees();
        assert_eq!(freed.len(), 6, "{freed:?}");
        freed.sort_unstable();
        allocated.sort_unstable();
        assert_eq!(freed, allocated, "each allocation freed exactly once");
        assert_eq!(allocator.memory_info().unwrap().free, TOTAL);
        assert!(fake.state().memory.is_empty());
    }

    /// GA-002: buffers keep working, and are freed once, after the
    /// allocator is dropped; the driver goes away with the last of them.
    #[test]
    fn ga_002_buffers_outlive_the_allocator_and_still_free() {
        let (fake, allocator) = setup();
        let mut a = allocator.allocate(64).unwrap();
        let b = allocator.allocate(32).unwrap();
        drop(allocator);
        assert!(fake.frees().is_empty());
        a.write(3, b"still here").unwrap();
        let mut back = [0u8; 10];
        a.read(3, &mut back).unwrap();
        assert_eq!(&back, b"still here");
        drop(a);
        drop(b);
        let mut freed = fake.frees();
        freed.sort_unstable();
        assert_eq!(freed, fake.allocs());
        assert_eq!(
            Arc::strong_count(&fake),
            1,
            "the driver outlived its buffers"
        );
    }

    /// GA-002: a failed `cuMemFree` is logged, never a panic, and never
    /// retried (that would be a double free).
    #[test]
    fn ga_002_a_failed_free_does_not_panic_or_retry() {
        let (fake, allocator) = setup();
        let buffer = allocator.allocate(8).unwrap();
        let id = only_alloc(&fake);
        fake.state().fail_next_free = true;
        drop(buffer);
        drop(allocator);
        assert_eq!(fake.frees(), [id]);
    }

    /// GA-005, GA-015: free memory is checked before `cuMemAlloc`; a request
    /// beyond it is refused with the numbers and reaches no allocation.
    #[test]
    fn ga_005_ga_015_free_memory_is_checked_before_the_driver_allocates() {
        let (fake, allocator) = setup();
        let _held = allocator.allocate(TOTAL - 100).unwrap();
        fake.take_calls();
        assert_eq!(
            allocator.allocate(101).unwrap_err(),
            AllocError::OutOfMemory {
                requested: 101,
                available: 100
            }
        );
        assert_eq!(fake.calls(), [Call::MemGetInfo]);
        assert!(allocator.allocate(100).is_ok());
    }

    /// GA-005: memory taken by someone else between the check and
    /// `cuMemAlloc` is still `OutOfMemory`, with what is free then; other
    /// allocation failures come back unchanged. Neither frees anything.
    #[test]
    fn ga_005_a_failing_driver_allocation_is_typed_and_takes_nothing() {
        let (fake, allocator) = setup();
        fake.state().race_next_alloc = Some(TOTAL - 10);
        assert_eq!(
            allocator.allocate(50).unwrap_err(),
            AllocError::OutOfMemory {
                requested: 50,
                available: 10
            }
        );
        // The driver refuses although cuMemGetInfo counts enough free
        // memory (2 MiB pages, fragmentation): never more than was asked.
        fake.state().used = 0;
        fake.state().race_next_alloc = Some(0);
        assert_eq!(
            allocator.allocate(50).unwrap_err(),
            AllocError::OutOfMemory {
                requested: 50,
                available: 49
            }
        );
        fake.state().used = 0;
        fake.state().fail_next_alloc = true;
        assert_eq!(
            allocator.allocate(50).unwrap_err(),
            driver_failure("cuMemAlloc")
        );
        assert!(fake.allocs().is_empty());
        assert!(fake.frees().is_empty());
        assert!(
            !fake
                .calls()
                .iter()
                .any(|c| matches!(c, Call::MemsetZero { .. }))
        );
    }

    /// GA-004: a zero-byte request never reaches the driver.
    #[test]
    fn ga_004_zero_bytes_never_reaches_the_driver() {
        let (fake, allocator) = setup();
        assert_eq!(allocator.allocate(0).unwrap_err(), AllocError::ZeroSize);
        assert_eq!(fake.calls(), []);
    }

    /// GA-009: memory info is the driver's free and total memory.
    #[test]
    fn ga_009_memory_info_is_the_drivers() {
        let (_fake, allocator) = setup();
        let _b = allocator.allocate(1000).unwrap();
        assert_eq!(
            allocator.memory_info().unwrap(),
            MemoryInfo {
                total: TOTAL,
                free: TOTAL - 1000
            }
        );
    }

    /// GA-010, GA-015: properties come from the driver's name, total memory
    /// and attributes, and `allocations_managed` is false even on a device
    /// that supports managed memory, since memory comes from `cuMemAlloc`.
    #[test]
    fn ga_010_ga_015_properties_from_driver_attributes_never_managed_allocations() {
        let (fake, allocator) = setup();
        {
            let mut state = fake.state();
            for (attribute, value) in [
                (Attribute::ComputeCapabilityMajor, 9),
                (Attribute::ComputeCapabilityMinor, 0),
                (Attribute::UnifiedAddressing, 1),
                (Attribute::ManagedMemory, 1),
                (Attribute::ConcurrentManagedAccess, 1),
            ] {
                state.attributes.insert(attribute, value);
            }
        }
        assert_eq!(
            allocator.properties().unwrap(),
            DeviceProperties {
                name: "Fake GPU 80GB".to_owned(),
                compute_capability: (9, 0),
                integrated: false,
                unified_addressing: true,
                managed_memory: true,
                pageable_memory_access: false,
                pageable_memory_access_uses_host_page_tables: false,
                concurrent_managed_access: true,
                allocations_managed: false,
                total_memory: TOTAL,
                uuid: Some("GPU-00000000-1111-2222-3333-444444444444".to_owned()),
                pci_bus_id: Some("0000:65:00.0".to_owned()),
            }
        );
        // Asking allocated nothing.
        assert!(fake.allocs().is_empty());
    }

    /// GA-010: each flag comes from its own attribute (a swapped mapping
    /// shows), any non-zero value is true, and a negative compute capability
    /// reads as 0.
    #[test]
    fn ga_010_each_flag_comes_from_its_own_attribute() {
        type Field = fn(&DeviceProperties) -> bool;
        let flags: [(Attribute, Field); 6] = [
            (Attribute::Integrated, |p| p.integrated),
            (Attribute::UnifiedAddressing, |p| p.unified_addressing),
            (Attribute::ManagedMemory, |p| p.managed_memory),
            (Attribute::PageableMemoryAccess, |p| {
                p.pageable_memory_access
            }),
            (Attribute::PageableMemoryAccessUsesHostPageTables, |p| {
                p.pageable_memory_access_uses_host_page_tables
            }),
            (Attribute::ConcurrentManagedAccess, |p| {
                p.concurrent_managed_access
            }),
        ];
        for (set, _) in flags {
            let fake = Fake::new(TOTAL);
            fake.state().attributes.insert(set, 7);
            let props = device_properties(&*fake).unwrap();
            for (attribute, field) in flags {
                assert_eq!(
                    field(&props),
                    attribute == set,
                    "{attribute:?} with {set:?} set"
                );
            }
            assert!(!props.allocations_managed);
        }

        let fake = Fake::new(TOTAL);
        fake.state()
            .attributes
            .insert(Attribute::ComputeCapabilityMajor, 8);
        fake.state()
            .attributes
            .insert(Attribute::ComputeCapabilityMinor, 6);
        assert_eq!(
            device_properties(&*fake).unwrap().compute_capability,
            (8, 6)
        );
        fake.state()
            .attributes
            .insert(Attribute::ComputeCapabilityMajor, -1);
        assert_eq!(
            device_properties(&*fake).unwrap().compute_capability,
            (0, 6)
        );
    }

    /// GA-KERN-006: leaves come from the driver for the buffer's own
    /// allocation and length, a failure is the driver's error, and a
    /// request past the end never reaches the driver.
    #[test]
    fn ga_kern_006_leaf_hashes_are_the_drivers_for_the_whole_buffer() {
        let (fake, allocator) = setup();
        let mut buffer = allocator.allocate(10).unwrap();
        let id = only_alloc(&fake);
        buffer.write(0, b"abcdefghij").unwrap();
        fake.take_calls();
        let leaves = buffer.leaf_hashes(4, 1, 2).unwrap();
        assert_eq!(
            leaves,
            [
                crate::leaves::host_leaf_hash(b"efgh"),
                crate::leaves::host_leaf_hash(b"ij")
            ]
        );
        assert_eq!(
            fake.take_calls(),
            [Call::LeafHashes {
                id,
                first: 1,
                count: 2
            }]
        );
        assert!(buffer.leaf_hashes(4, 2, 2).is_err());
        assert_eq!(fake.take_calls(), []);
        fake.state().fail_next_copy = true;
        assert_eq!(
            buffer.leaf_hashes(4, 0, 1).unwrap_err(),
            driver_failure("cuLaunchKernel")
        );
        assert!(buffer.placement().unwrap().is_device_memory_of(0));
        assert_eq!(fake.take_calls()[1], Call::Placement { id });
    }

    /// GA-001, GA-003: a buffer is `Send + Sync`, says it is CUDA memory of
    /// its device, and its `Debug` shows no handle.
    #[test]
    fn ga_001_ga_003_buffers_are_cuda_buffers_of_their_device() {
        fn send_sync<T: Send + Sync>(_: &T) {}
        let fake = Fake::new(TOTAL);
        let allocator = DriverAllocator::new(3, fake);
        let buffer = allocator.allocate(10).unwrap();
        send_sync(&buffer);
        assert_eq!(
            (buffer.backend(), buffer.device_index(), buffer.len()),
            (Backend::Cuda, 3, 10)
        );
        assert_eq!(allocator.index(), 3);
        let text = format!("{buffer:?}");
        assert!(text.starts_with("DeviceBuffer { id: ") && !text.contains("storage"));
    }
}
