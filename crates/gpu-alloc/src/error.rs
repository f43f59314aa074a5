//! The one error type of the crate, [`AllocError`].
//!
//! Every message says what went wrong, gives the numbers an operator can act
//! on (requested and available bytes) and what to do next. No message carries
//! a device pointer or host address (GA-003): the variants hold only sizes,
//! indices, offsets and driver error names.

use crate::properties::CopyDirection;

/// Everything that can go wrong when allocating or copying device memory.
///
/// [`AllocError::is_retriable`] separates conditions a caller may retry
/// (not enough memory now, a transient allocation failure) from fatal ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AllocError {
    /// A zero-byte allocation was requested (GA-004).
    #[error("cannot allocate 0 bytes of device memory: request at least 1 byte")]
    ZeroSize,

    /// Not enough free device memory for the request (GA-005).
    #[error(
        "not enough device memory: requested {requested} bytes, {available} bytes available; \
         free other buffers, choose a device with more memory, or retry later"
    )]
    OutOfMemory {
        /// Bytes asked for.
        requested: u64,
        /// Bytes free on the device when the request was refused.
        available: u64,
    },

    /// An allocation failed for a reason that may not recur (an injected
    /// fault on the simulated device, or host memory backing it that could
    /// not be reserved).
    #[error("transient allocation failure for {requested} bytes: {reason}; retry the allocation")]
    Transient {
        /// Bytes asked for.
        requested: u64,
        /// What failed.
        reason: String,
    },

    /// The CUDA driver library (`libcuda`) could not be loaded (GA-014).
    #[error(
        "no CUDA driver found: libcuda could not be loaded; install the NVIDIA driver \
         (or set LD_LIBRARY_PATH), or choose the simulated host backend"
    )]
    NoCudaDriver,

    /// The device index is not one of the devices this backend sees (GA-011).
    #[error(
        "no device with index {index}: this backend sees {count} device(s); use an index below {count}"
    )]
    NoSuchDevice {
        /// Index asked for.
        index: u32,
        /// Number of devices present.
        count: u32,
    },

    /// A copy would touch bytes outside the buffer (GA-007).
    #[error(
        "copy of {len} bytes at offset {offset} is outside the buffer of {buffer_len} bytes; \
         keep offset + length within the buffer"
    )]
    OutOfBounds {
        /// Start of the requested range.
        offset: u64,
        /// Length of the requested range.
        len: u64,
        /// Size of the buffer.
        buffer_len: u64,
    },

    /// A copy between host and device failed (GA-013 injects this on the
    /// simulated device).
    #[error(
        "{direction} copy of {len} bytes failed: {reason}; the buffer contents are undefined, re-upload before use"
    )]
    CopyFailed {
        /// Which way the copy went.
        direction: CopyDirection,
        /// Bytes in the failed copy.
        len: u64,
        /// What failed.
        reason: String,
    },

    /// The simulated device has no live buffer with this id.
    #[error(
        "no live buffer with id {id} on this device; it was freed or belongs to another device"
    )]
    NoSuchBuffer {
        /// The id asked for.
        id: u64,
    },

    /// An argument is not usable (for example a chunk size of 0).
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The CUDA driver returned an error.
    #[error(
        "CUDA driver call {call} failed: {name} ({description}); check the driver and device state (nvidia-smi)"
    )]
    Driver {
        /// The driver API call that failed, e.g. `cuMemAlloc`.
        call: &'static str,
        /// The driver's error name, e.g. `CUDA_ERROR_INVALID_VALUE`.
        name: String,
        /// The driver's description of the error.
        description: String,
    },
}

impl AllocError {
    /// Whether retrying the same request later may succeed: true for
    /// [`AllocError::OutOfMemory`] and [`AllocError::Transient`], false for
    /// everything else (GA-019).
    #[must_use]
    pub fn is_retriable(&self) -> bool {
        matches!(self, Self::OutOfMemory { .. } | Self::Transient { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GA-019.
    #[test]
    fn ga_019_retriable_classification() {
        assert!(
            AllocError::OutOfMemory {
                requested: 2,
                available: 1
            }
            .is_retriable()
        );
        assert!(
            AllocError::Transient {
                requested: 2,
                reason: String::new()
            }
            .is_retriable()
        );
        assert!(!AllocError::NoCudaDriver.is_retriable());
        assert!(!AllocError::ZeroSize.is_retriable());
        assert!(
            !AllocError::OutOfBounds {
                offset: 0,
                len: 1,
                buffer_len: 0
            }
            .is_retriable()
        );
    }

    /// GA-019.
    #[test]
    fn ga_019_out_of_memory_message_gives_numbers_and_next_step() {
        let text = AllocError::OutOfMemory {
            requested: 300,
            available: 200,
        }
        .to_string();
        assert!(text.contains("requested 300 bytes"), "{text}");
        assert!(text.contains("200 bytes available"), "{text}");
        assert!(text.contains("free other buffers"), "{text}");
    }
}
