//! [`HostDevice`]: a device simulated in host memory, with fault injection.
//!
//! It is the backend wherever no GPU exists, and the one every test and CI
//! run uses. Capacity is fixed at creation and accounted exactly with one
//! atomic counter (GA-006); buffers share the accounting state with the
//! device through an `Arc`, so a buffer that outlives its device still
//! returns its bytes when dropped (GA-002).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};

use crate::VramAllocator;
use crate::buffer::{BufferId, BufferStorage, DeviceBuffer};
use crate::error::AllocError;
use crate::leaves::{self, LeafHash};
use crate::properties::{
    Backend, BufferPlacement, CopyDirection, DeviceProperties, MemoryInfo, MemoryKind,
};

/// Capacity of [`HostDeviceConfig::default`]: 1 GiB. Host memory is only
/// taken when buffers are allocated.
pub const DEFAULT_HOST_CAPACITY: u64 = 1 << 30;

/// How to build a [`HostDevice`]: its capacity, the properties it reports
/// and how many devices the simulated machine has (GA-012).
///
/// The default presents one discrete device of [`DEFAULT_HOST_CAPACITY`]
/// bytes with every residency-relevant flag off (not integrated, no unified
/// addressing, no managed memory, no pageable access), i.e. a device that
/// passes any residency policy. Tests change the properties to present one
/// that does not.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostDeviceConfig {
    /// Bytes the device can hold. Reported as `total_memory` in its
    /// properties, whatever `properties.total_memory` says.
    pub capacity: u64,
    /// Properties the device reports.
    pub properties: DeviceProperties,
    /// Number of simulated devices; [`HostDevice::open`] accepts indices
    /// below it.
    pub device_count: u32,
}

impl Default for HostDeviceConfig {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_HOST_CAPACITY)
    }
}

impl HostDeviceConfig {
    /// The default configuration with a capacity of `capacity` bytes.
    ///
    /// ```
    /// let config = gpu_alloc::HostDeviceConfig::with_capacity(10 << 20);
    /// assert_eq!(config.capacity, 10 << 20);
    /// assert!(!config.properties.integrated);
    /// ```
    #[must_use]
    pub fn with_capacity(capacity: u64) -> Self {
        Self {
            capacity,
            properties: DeviceProperties {
                name: "simulated device (host memory)".to_owned(),
                compute_capability: (9, 0),
                integrated: false,
                unified_addressing: false,
                managed_memory: false,
                pageable_memory_access: false,
                pageable_memory_access_uses_host_page_tables: false,
                concurrent_managed_access: false,
                allocations_managed: false,
                total_memory: capacity,
                uuid: None,
                pci_bus_id: None,
            },
            device_count: 1,
        }
    }

    /// Replaces the properties the device reports (`total_memory` is still
    /// taken from the capacity).
    #[must_use]
    pub fn with_properties(mut self, properties: DeviceProperties) -> Self {
        self.properties = properties;
        self
    }

    /// Sets how many simulated devices there are.
    #[must_use]
    pub fn with_device_count(mut self, device_count: u32) -> Self {
        self.device_count = device_count;
        self
    }
}

/// Contents of one simulated buffer, shared between the buffer and the
/// device's table of live buffers (which holds it weakly, for `flip_bit`).
type Cells = RwLock<Vec<u8>>;

/// State shared by a device and every buffer it handed out.
#[derive(Debug)]
struct HostState {
    capacity: u64,
    used: AtomicU64,
    failing_allocations: AtomicU32,
    failing_copies: AtomicU32,
    live: Mutex<HashMap<BufferId, Weak<Cells>>>,
}

impl HostState {
    /// Takes `bytes` from the free capacity, or reports what is free.
    fn reserve(&self, bytes: u64) -> Result<(), AllocError> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes)
                    .filter(|&after| after <= self.capacity)
            })
            .map(|_| ())
            .map_err(|used| AllocError::OutOfMemory {
                requested: bytes,
                available: self.capacity.saturating_sub(used),
            })
    }

    fn release(&self, bytes: u64) {
        // Saturating so that a bookkeeping bug can never wrap to "all used".
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(bytes))
            });
    }

    /// Consumes one pending injected fault from `counter`, if any.
    fn take_fault(counter: &AtomicU32) -> bool {
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<BufferId, Weak<Cells>>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A device simulated in host memory (GA-012, GA-013).
///
/// Created as an `Arc<HostDevice>`, which coerces to
/// `Arc<dyn VramAllocator>`; keep a clone of the `Arc<HostDevice>` to inject
/// faults into a device that other code uses through the trait.
///
/// ```
/// use gpu_alloc::{HostDevice, HostDeviceConfig, VramAllocator};
///
/// let device = HostDevice::new(HostDeviceConfig::with_capacity(1 << 20));
/// device.fail_next_allocation();
/// let err = device.allocate(16).unwrap_err();
/// assert!(err.is_retriable());
/// assert!(device.allocate(16).is_ok());
/// ```
pub struct HostDevice {
    index: u32,
    properties: DeviceProperties,
    device_count: u32,
    state: Arc<HostState>,
}

impl HostDevice {
    /// Creates device 0 of `config`.
    #[must_use]
    pub fn new(config: HostDeviceConfig) -> Arc<Self> {
        Self::build(config, 0)
    }

    /// Creates device `index` of `config`.
    ///
    /// # Errors
    /// [`AllocError::NoSuchDevice`] if `index` is not below
    /// `config.device_count`.
    pub fn open(config: HostDeviceConfig, index: u32) -> Result<Arc<Self>, AllocError> {
        if index >= config.device_count {
            return Err(AllocError::NoSuchDevice {
                index,
                count: config.device_count,
            });
        }
        Ok(Self::build(config, index))
    }

    fn build(config: HostDeviceConfig, index: u32) -> Arc<Self> {
        let mut properties = config.properties;
        properties.total_memory = config.capacity;
        Arc::new(Self {
            index,
            properties,
            device_count: config.device_count,
            state: Arc::new(HostState {
                capacity: config.capacity,
                used: AtomicU64::new(0),
                failing_allocations: AtomicU32::new(0),
                failing_copies: AtomicU32::new(0),
                live: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Number of simulated devices in this device's configuration.
    #[must_use]
    pub fn device_count(&self) -> u32 {
        self.device_count
    }

    /// Makes the next allocation fail with [`AllocError::Transient`]. Each
    /// call adds one failing allocation.
    pub fn fail_next_allocation(&self) {
        self.state
            .failing_allocations
            .fetch_add(1, Ordering::AcqRel);
    }

    /// Makes the next copy (write or read, any buffer of this device) fail
    /// with [`AllocError::CopyFailed`] and leave the data untouched. Each
    /// call adds one failing copy.
    pub fn fail_next_copy(&self) {
        self.state.failing_copies.fetch_add(1, Ordering::AcqRel);
    }

    /// Flips bit `bit` (counted from bit 0 of byte 0) of a live buffer's
    /// contents, as VRAM corruption or tampering would.
    ///
    /// # Errors
    /// [`AllocError::NoSuchBuffer`] if no live buffer of this device has that
    /// id, [`AllocError::OutOfBounds`] if the bit lies beyond the buffer.
    pub fn flip_bit(&self, buffer: BufferId, bit: u64) -> Result<(), AllocError> {
        let cells = self
            .state
            .live()
            .get(&buffer)
            .and_then(Weak::upgrade)
            .ok_or(AllocError::NoSuchBuffer { id: buffer.get() })?;
        let mut data = cells.write().unwrap_or_else(PoisonError::into_inner);
        let buffer_len = data.len() as u64;
        let byte = usize::try_from(bit / 8)
            .ok()
            .and_then(|i| data.get_mut(i))
            .ok_or(AllocError::OutOfBounds {
                offset: bit / 8,
                len: 1,
                buffer_len,
            })?;
        *byte ^= 1u8 << (bit % 8);
        tracing::debug!(buffer = buffer.get(), bit, "injected bit flip");
        Ok(())
    }

    /// Number of buffers of this device not yet dropped.
    #[must_use]
    pub fn live_buffer_count(&self) -> usize {
        self.state.live().len()
    }
}

impl std::fmt::Debug for HostDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostDevice")
            .field("index", &self.index)
            .field("capacity", &self.state.capacity)
            .field("used", &self.state.used.load(Ordering::Acquire))
            .finish_non_exhaustive()
    }
}

impl VramAllocator for HostDevice {
    fn backend(&self) -> Backend {
        Backend::Host
    }

    fn device_index(&self) -> u32 {
        self.index
    }

    fn properties(&self) -> Result<DeviceProperties, AllocError> {
        Ok(self.properties.clone())
    }

    fn memory_info(&self) -> Result<MemoryInfo, AllocError> {
        let used = self.state.used.load(Ordering::Acquire);
        Ok(MemoryInfo {
            total: self.state.capacity,
            free: self.state.capacity.saturating_sub(used),
        })
    }

    fn allocate(&self, bytes: u64) -> Result<DeviceBuffer, AllocError> {
        if bytes == 0 {
            return Err(AllocError::ZeroSize);
        }
        if HostState::take_fault(&self.state.failing_allocations) {
            return Err(AllocError::Transient {
                requested: bytes,
                reason: "injected allocation failure (simulated device)".to_owned(),
            });
        }
        self.state.reserve(bytes)?;
        let data = match host_zeroed(bytes) {
            Ok(data) => data,
            Err(err) => {
                self.state.release(bytes);
                return Err(err);
            }
        };
        let id = BufferId::next();
        let cells = Arc::new(RwLock::new(data));
        self.state.live().insert(id, Arc::downgrade(&cells));
        tracing::debug!(
            buffer = id.get(),
            bytes,
            device = self.index,
            "host buffer allocated"
        );
        let storage = HostStorage {
            id,
            len: bytes,
            cells,
            state: Arc::clone(&self.state),
            placement: BufferPlacement {
                memory: MemoryKind::Simulated,
                managed: self.properties.allocations_managed,
                device_ordinal: self.index,
            },
        };
        Ok(DeviceBuffer::new(
            id,
            bytes,
            Backend::Host,
            self.index,
            Box::new(storage),
        ))
    }
}

/// `bytes` zeroed bytes of host memory, or a transient error where the host
/// cannot provide them (rather than aborting the process).
fn host_zeroed(bytes: u64) -> Result<Vec<u8>, AllocError> {
    let fail = |reason: &str| AllocError::Transient {
        requested: bytes,
        reason: reason.to_owned(),
    };
    let len =
        usize::try_from(bytes).map_err(|_| fail("size does not fit the host address space"))?;
    let mut data = Vec::new();
    data.try_reserve_exact(len)
        .map_err(|_| fail("host memory backing the simulated device could not be reserved"))?;
    data.resize(len, 0);
    Ok(data)
}

/// The memory behind one simulated buffer.
struct HostStorage {
    id: BufferId,
    len: u64,
    cells: Arc<Cells>,
    state: Arc<HostState>,
    /// Simulated memory; managed if the device was configured so.
    placement: BufferPlacement,
}

impl HostStorage {
    fn injected_copy_fault(&self, direction: CopyDirection, len: usize) -> Result<(), AllocError> {
        if HostState::take_fault(&self.state.failing_copies) {
            return Err(AllocError::CopyFailed {
                direction,
                len: len as u64,
                reason: "injected copy failure (simulated device)".to_owned(),
            });
        }
        Ok(())
    }
}

/// A range the buffer already checked, as host indices.
fn host_range(
    offset: u64,
    len: usize,
    buffer_len: u64,
) -> Result<std::ops::Range<usize>, AllocError> {
    let out_of_bounds = AllocError::OutOfBounds {
        offset,
        len: len as u64,
        buffer_len,
    };
    let start = usize::try_from(offset).map_err(|_| out_of_bounds.clone())?;
    let end = start.checked_add(len).ok_or(out_of_bounds)?;
    Ok(start..end)
}

impl BufferStorage for HostStorage {
    fn write(&mut self, offset: u64, src: &[u8]) -> Result<(), AllocError> {
        self.injected_copy_fault(CopyDirection::HostToDevice, src.len())?;
        let range = host_range(offset, src.len(), self.len)?;
        let mut data = self.cells.write().unwrap_or_else(PoisonError::into_inner);
        let dst = data.get_mut(range).ok_or(AllocError::OutOfBounds {
            offset,
            len: src.len() as u64,
            buffer_len: self.len,
        })?;
        dst.copy_from_slice(src);
        Ok(())
    }

    fn read(&self, offset: u64, dst: &mut [u8]) -> Result<(), AllocError> {
        self.injected_copy_fault(CopyDirection::DeviceToHost, dst.len())?;
        let range = host_range(offset, dst.len(), self.len)?;
        let data = self.cells.read().unwrap_or_else(PoisonError::into_inner);
        let src = data.get(range).ok_or(AllocError::OutOfBounds {
            offset,
            len: dst.len() as u64,
            buffer_len: self.len,
        })?;
        dst.copy_from_slice(src);
        Ok(())
    }

    /// Hashes the host memory in place, as the kernel does on a GPU; an
    /// injected copy fault fails it like the copy of the leaves back would.
    fn leaf_hashes(
        &self,
        chunk_bytes: u64,
        first: u64,
        count: u64,
    ) -> Result<Vec<LeafHash>, AllocError> {
        let leaf_bytes = usize::try_from(count)
            .unwrap_or(usize::MAX)
            .saturating_mul(32);
        self.injected_copy_fault(CopyDirection::DeviceToHost, leaf_bytes)?;
        let data = self.cells.read().unwrap_or_else(PoisonError::into_inner);
        leaves::host_leaves(&data, chunk_bytes, first, count)
    }

    fn placement(&self) -> Result<BufferPlacement, AllocError> {
        Ok(self.placement)
    }
}

impl Drop for HostStorage {
    fn drop(&mut self) {
        self.state.live().remove(&self.id);
        self.state.release(self.len);
        tracing::debug!(
            buffer = self.id.get(),
            bytes = self.len,
            "host buffer freed"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GA-005.
    #[test]
    fn ga_005_reserve_and_release_are_exact_at_the_edges() {
        let device = HostDevice::new(HostDeviceConfig::with_capacity(100));
        let state = &device.state;
        assert!(state.reserve(100).is_ok());
        assert_eq!(
            state.reserve(1),
            Err(AllocError::OutOfMemory {
                requested: 1,
                available: 0
            })
        );
        state.release(40);
        assert_eq!(
            state.reserve(u64::MAX),
            Err(AllocError::OutOfMemory {
                requested: u64::MAX,
                available: 40
            })
        );
        state.release(1000); // never wraps below zero
        assert_eq!(state.used.load(Ordering::Acquire), 0);
    }

    /// GA-013.
    #[test]
    fn ga_013_injected_faults_are_counted() {
        let counter = AtomicU32::new(2);
        assert!(HostState::take_fault(&counter));
        assert!(HostState::take_fault(&counter));
        assert!(!HostState::take_fault(&counter));
    }

    /// GA-003.
    #[test]
    fn ga_003_debug_of_the_device_shows_no_buffers() {
        let device = HostDevice::new(HostDeviceConfig::with_capacity(100));
        let _b = device.allocate(10);
        let text = format!("{device:?}");
        assert_eq!(text, "HostDevice { index: 0, capacity: 100, used: 10, .. }");
    }
}
