//! Test-only: the CUDA kernel `crates/gpu-alloc/kernels/leaf_hash.cu`,
//! compiled unchanged as host C++ through `host_shim.h` (see `build.rs`), so
//! its SHA-256 is checked against `seal-crypto` on every CI run, on machines
//! without a GPU (spec GA-KERN-004, docs/gpu-kernel.md).
//!
//! A launch runs every thread of the grid in turn on the calling thread.

/// Bytes of one leaf hash in the kernel's output.
pub const LEAF_BYTES: usize = 32;

/// A launch the kernel (or the shim's grid) cannot take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaunchError {
    /// `out` holds fewer than `32 * count` bytes.
    OutputTooShort {
        /// Bytes needed.
        needed: u128,
        /// Bytes given.
        given: usize,
    },
    /// `block_dim` is 0, or the grid would need more than 2^31 - 1 blocks.
    BadGrid,
}

mod ffi {
    // SAFETY: this declaration matches `leaf_hashes_host` in
    // crates/gpu-alloc/kernels/host_shim.h (same parameter types and order,
    // C ABI), which build.rs compiles and links into this crate. The unsafe
    // block below is the only call.
    #[allow(unsafe_code)]
    unsafe extern "C" {
        pub(super) fn leaf_hashes_host(
            data: *const u8,
            len: u64,
            chunk_bytes: u64,
            first_chunk: u64,
            count: u64,
            out: *mut u8,
            block_dim: u32,
        ) -> i32;
    }
}

/// Launches `leaf_hashes` over `data` cut into chunks of `chunk_bytes`, for
/// chunks `first_chunk .. first_chunk + count`, in blocks of `block_dim`
/// threads, writing leaf `t` to `out[32 * t .. 32 * t + 32]`. Entries for
/// chunks past the end of `data` are left as they were, as the kernel leaves
/// them.
pub fn launch(
    data: &[u8],
    chunk_bytes: u64,
    first_chunk: u64,
    count: u64,
    block_dim: u32,
    out: &mut [u8],
) -> Result<(), LaunchError> {
    let needed = u128::from(count) * LEAF_BYTES as u128;
    if needed > out.len() as u128 {
        return Err(LaunchError::OutputTooShort {
            needed,
            given: out.len(),
        });
    }
    // SAFETY: `data` is valid for reads of `data.len()` bytes, the length
    // passed; the kernel reads nothing outside [data, data + len). `out` is
    // valid for writes of `out.len()` bytes and the check above makes that at
    // least 32 * count, the most the kernel writes (thread t < count writes
    // out[32t .. 32t + 32]). The two do not overlap (`&` and `&mut`). The
    // host driver keeps no pointer after it returns and allocates nothing.
    #[allow(unsafe_code)]
    let status = unsafe {
        ffi::leaf_hashes_host(
            data.as_ptr(),
            data.len() as u64,
            chunk_bytes,
            first_chunk,
            count,
            out.as_mut_ptr(),
            block_dim,
        )
    };
    if status == 0 {
        Ok(())
    } else {
        Err(LaunchError::BadGrid)
    }
}

/// Every leaf hash of `data` cut into chunks of `chunk_bytes` (at least 1),
/// in order, from one launch of 256-thread blocks.
pub fn leaf_hashes(data: &[u8], chunk_bytes: u64) -> Result<Vec<[u8; LEAF_BYTES]>, LaunchError> {
    let chunks = (data.len() as u64).div_ceil(chunk_bytes.max(1));
    let mut out = vec![0u8; chunks as usize * LEAF_BYTES];
    launch(data, chunk_bytes, 0, chunks, 256, &mut out)?;
    Ok(out
        .chunks_exact(LEAF_BYTES)
        .map(|leaf| {
            let mut bytes = [0u8; LEAF_BYTES];
            bytes.copy_from_slice(leaf);
            bytes
        })
        .collect())
}
