//! [`DeviceBuffer`]: an owned allocation of device memory that frees itself.
//!
//! The buffer checks every range once, here, and hands the backend only
//! ranges that fit; the backend's storage frees the memory when the buffer is
//! dropped (GA-002). Nothing in this module can see a device address, so
//! nothing here can print one (GA-003).

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::error::AllocError;
use crate::leaves::{self, LeafHash};
use crate::properties::{Backend, BufferPlacement};

/// Ids are handed out process-wide in sequence, so an id never repeats and
/// never says anything about where the memory lives.
static NEXT_BUFFER_ID: AtomicU64 = AtomicU64::new(1);

/// An opaque, sequential identifier of a [`DeviceBuffer`]. Not an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BufferId(u64);

impl BufferId {
    /// A fresh id, never handed out before in this process.
    pub(crate) fn next() -> Self {
        Self(NEXT_BUFFER_ID.fetch_add(1, Ordering::Relaxed))
    }

    /// The id as a number, for logs and audit records.
    #[must_use]
    pub fn get(self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for BufferId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "buffer#{}", self.0)
    }
}

/// What a backend provides behind a [`DeviceBuffer`]. Ranges passed in are
/// already checked against the buffer length. Dropping the storage frees the
/// device memory and must not panic.
pub(crate) trait BufferStorage: Send + Sync {
    /// Copies `src` into device memory starting at `offset`.
    fn write(&mut self, offset: u64, src: &[u8]) -> Result<(), AllocError>;
    /// Copies device memory starting at `offset` into all of `dst`.
    fn read(&self, offset: u64, dst: &mut [u8]) -> Result<(), AllocError>;
    /// The leaf hashes of chunks `first..first + count`, computed where the
    /// memory is; the request is already checked against the buffer.
    fn leaf_hashes(
        &self,
        chunk_bytes: u64,
        first: u64,
        count: u64,
    ) -> Result<Vec<LeafHash>, AllocError>;
    /// Where the memory is, as the driver reports it for this address.
    fn placement(&self) -> Result<BufferPlacement, AllocError>;
}

/// An owned allocation of device memory (RAII).
///
/// Dropping it frees the memory and returns it to the device's accounting,
/// even when the allocator that made it was dropped first; drop never
/// panics. `Debug` shows the id, length, backend and device index only.
pub struct DeviceBuffer {
    id: BufferId,
    len: u64,
    backend: Backend,
    device_index: u32,
    storage: Box<dyn BufferStorage>,
}

impl DeviceBuffer {
    pub(crate) fn new(
        id: BufferId,
        len: u64,
        backend: Backend,
        device_index: u32,
        storage: Box<dyn BufferStorage>,
    ) -> Self {
        Self {
            id,
            len,
            backend,
            device_index,
            storage,
        }
    }

    /// The buffer's opaque id.
    #[must_use]
    pub fn id(&self) -> BufferId {
        self.id
    }

    /// Size of the buffer in bytes (never 0).
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Always false: zero-byte buffers cannot be allocated (GA-004).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The backend that owns the memory.
    #[must_use]
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Index of the device that holds the memory.
    #[must_use]
    pub fn device_index(&self) -> u32 {
        self.device_index
    }

    /// Copies `src` from host memory into the buffer at `offset`.
    ///
    /// # Errors
    /// [`AllocError::OutOfBounds`] if the range does not fit (nothing is
    /// written), [`AllocError::CopyFailed`] or [`AllocError::Driver`] if the
    /// copy itself fails.
    pub fn write(&mut self, offset: u64, src: &[u8]) -> Result<(), AllocError> {
        self.check_range(offset, src.len() as u64)?;
        if src.is_empty() {
            return Ok(());
        }
        self.storage.write(offset, src)
    }

    /// Copies `dst.len()` bytes from the buffer at `offset` into `dst`.
    ///
    /// # Errors
    /// [`AllocError::OutOfBounds`] if the range does not fit (nothing is
    /// read), [`AllocError::CopyFailed`] or [`AllocError::Driver`] if the copy
    /// itself fails.
    pub fn read(&self, offset: u64, dst: &mut [u8]) -> Result<(), AllocError> {
        self.check_range(offset, dst.len() as u64)?;
        if dst.is_empty() {
            return Ok(());
        }
        self.storage.read(offset, dst)
    }

    /// Reads `len` bytes starting at `offset` in pieces of at most `chunk`
    /// bytes and passes each piece, in order, to `f` (GA-008).
    ///
    /// Only one host buffer of `min(chunk, len)` bytes is used, so a large
    /// shard can be hashed without a second full-size copy in host memory.
    /// An error from `f` stops the read and is returned as is.
    ///
    /// # Errors
    /// [`AllocError::InvalidArgument`] for a `chunk` of 0,
    /// [`AllocError::OutOfBounds`] if the range does not fit, copy errors as
    /// in [`DeviceBuffer::read`], or whatever `f` returns.
    pub fn read_chunks(
        &self,
        offset: u64,
        len: u64,
        chunk: usize,
        f: &mut dyn FnMut(&[u8]) -> Result<(), AllocError>,
    ) -> Result<(), AllocError> {
        if chunk == 0 {
            return Err(AllocError::InvalidArgument {
                reason: "chunk size must be at least 1 byte",
            });
        }
        self.check_range(offset, len)?;
        let chunk64 = chunk as u64;
        let staging_len = usize::try_from(len.min(chunk64)).unwrap_or(chunk);
        let mut staging = vec![0u8; staging_len];
        let mut done = 0u64;
        while done < len {
            let n = usize::try_from((len - done).min(chunk64)).unwrap_or(staging_len);
            let piece = staging.get_mut(..n).ok_or(AllocError::InvalidArgument {
                reason: "chunk larger than the staging buffer",
            })?;
            self.storage.read(offset + done, piece)?;
            f(piece)?;
            done += n as u64;
        }
        Ok(())
    }

    /// The RFC 6962 leaf hashes `SHA-256(0x00 || chunk)` of chunks
    /// `first..first + count` of the buffer cut into `chunk_bytes`-byte
    /// chunks (the last one may be short), computed where the memory is
    /// (GA-KERN-006): by the leaf-hash kernel on CUDA, which copies back 32
    /// bytes per chunk and never the chunk, and directly in host memory on
    /// the simulated device. The same leaves as `seal_crypto::leaf_hash`.
    ///
    /// ```
    /// use gpu_alloc::{HostDevice, HostDeviceConfig, VramAllocator};
    ///
    /// let device = HostDevice::new(HostDeviceConfig::with_capacity(1 << 20));
    /// let buffer = device.allocate(10)?;
    /// let leaves = buffer.leaf_hashes(4, 0, 3)?; // 4 + 4 + 2 bytes
    /// assert_eq!(leaves.len(), 3);
    /// assert!(buffer.leaf_hashes(4, 0, 4).is_err()); // there is no 4th chunk
    /// # Ok::<(), gpu_alloc::AllocError>(())
    /// ```
    ///
    /// # Errors
    /// [`AllocError::InvalidArgument`] for a chunk size of 0, a range past
    /// the last chunk or more than [`crate::MAX_LEAVES_PER_CALL`] leaves
    /// (nothing is hashed); [`AllocError::CopyFailed`] or
    /// [`AllocError::Driver`] if the device fails.
    pub fn leaf_hashes(
        &self,
        chunk_bytes: u64,
        first: u64,
        count: u64,
    ) -> Result<Vec<LeafHash>, AllocError> {
        leaves::check_request(self.len, chunk_bytes, first, count)?;
        if count == 0 {
            return Ok(Vec::new());
        }
        self.storage.leaf_hashes(chunk_bytes, first, count)
    }

    /// Where the buffer's memory is, as the driver reports it for the
    /// buffer's own address (GA-024): a residency policy checks that a
    /// sealed buffer is plain, unmanaged memory of its device.
    ///
    /// # Errors
    /// [`AllocError::Driver`] if the driver cannot be queried.
    pub fn placement(&self) -> Result<BufferPlacement, AllocError> {
        self.storage.placement()
    }

    /// Checks that `offset..offset + len` lies inside the buffer.
    fn check_range(&self, offset: u64, len: u64) -> Result<(), AllocError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(AllocError::OutOfBounds {
                offset,
                len,
                buffer_len: self.len,
            }),
        }
    }
}

impl std::fmt::Debug for DeviceBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Deliberately not derived: the storage holds the device address.
        f.debug_struct("DeviceBuffer")
            .field("id", &self.id.0)
            .field("len", &self.len)
            .field("backend", &self.backend)
            .field("device_index", &self.device_index)
            .finish()
    }
}

impl std::fmt::Display for DeviceBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({} bytes on {} device {})",
            self.id, self.len, self.backend, self.device_index
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Storage that records nothing; enough to test range checks.
    struct Null;
    impl BufferStorage for Null {
        fn write(&mut self, _: u64, _: &[u8]) -> Result<(), AllocError> {
            Ok(())
        }
        fn read(&self, _: u64, dst: &mut [u8]) -> Result<(), AllocError> {
            dst.fill(0x5A);
            Ok(())
        }
        fn leaf_hashes(&self, _: u64, _: u64, count: u64) -> Result<Vec<LeafHash>, AllocError> {
            Ok(vec![[0x5A; 32]; usize::try_from(count).unwrap()])
        }
        fn placement(&self) -> Result<BufferPlacement, AllocError> {
            Err(AllocError::InvalidArgument { reason: "none" })
        }
    }

    fn buffer(len: u64) -> DeviceBuffer {
        DeviceBuffer::new(BufferId::next(), len, Backend::Host, 0, Box::new(Null))
    }

    /// GA-007.
    #[test]
    fn ga_007_range_check_covers_overflow_and_the_exact_end() {
        let b = buffer(10);
        assert!(b.check_range(0, 10).is_ok());
        assert!(b.check_range(10, 0).is_ok());
        assert!(b.check_range(5, 6).is_err());
        assert!(b.check_range(11, 0).is_err());
        assert!(b.check_range(u64::MAX, 2).is_err());
    }

    /// GA-008.
    #[test]
    fn ga_008_read_chunks_staging_is_bounded_by_the_chunk() {
        let b = buffer(10_000);
        let mut largest = 0;
        let mut total = 0;
        b.read_chunks(0, 10_000, 3000, &mut |piece| {
            largest = largest.max(piece.len());
            total += piece.len();
            assert!(piece.iter().all(|&x| x == 0x5A));
            Ok(())
        })
        .unwrap();
        assert_eq!((largest, total), (3000, 10_000));
    }

    /// GA-KERN-006: the range is checked before the storage sees it, and an
    /// empty range never reaches it.
    #[test]
    fn ga_kern_006_leaf_requests_are_checked_by_the_buffer() {
        let b = buffer(10);
        assert_eq!(b.leaf_hashes(4, 1, 2).unwrap().len(), 2);
        assert!(b.leaf_hashes(4, 1, 0).unwrap().is_empty());
        assert!(matches!(
            b.leaf_hashes(4, 2, 2),
            Err(AllocError::InvalidArgument { .. })
        ));
        assert!(matches!(
            b.leaf_hashes(0, 0, 1),
            Err(AllocError::InvalidArgument { .. })
        ));
    }

    /// GA-003.
    #[test]
    fn ga_003_debug_names_only_id_and_sizes() {
        let b = buffer(42);
        let text = format!("{b:?}");
        assert!(text.starts_with("DeviceBuffer { id: "), "{text}");
        assert!(
            text.contains("len: 42") && !text.contains("storage"),
            "{text}"
        );
    }
}
