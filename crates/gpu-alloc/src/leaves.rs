//! Leaf hashes computed where the memory is (GA-KERN-006).
//!
//! A sealed shard's chunked root (`SC-CHUNK-001` in `seal-crypto`) is a
//! Merkle tree over RFC 6962 leaves, `SHA-256(0x00 || chunk)`. The leaves
//! are independent, so a backend can compute them next to the bytes: the
//! CUDA backend runs the leaf-hash kernel (`kernels/leaf_hash.cu`) and
//! copies back 32 bytes per chunk instead of the chunk; the simulated
//! device hashes its host memory directly. Either way the caller gets the
//! same leaves `seal_crypto::leaf_hash` gives and combines the root itself.
//!
//! This crate depends on no other crate of ours, so the host side uses
//! `sha2` directly; tests in `vram-residency` compare both backends with
//! `seal-crypto`'s leaves.

use sha2::{Digest as _, Sha256};

use crate::error::AllocError;

/// One leaf hash: 32 bytes, as `SHA-256` returns them.
pub type LeafHash = [u8; 32];

/// Most leaves one [`crate::DeviceBuffer::leaf_hashes`] call returns: 4 Mi
/// leaves, 128 MiB of hashes (4 TiB of weights in 1 MiB chunks). Bounds the
/// host memory a call can take whatever chunk size it asks for.
pub const MAX_LEAVES_PER_CALL: u64 = 1 << 22;

/// Chunks of `chunk_bytes` in `len` bytes, the last one possibly short.
pub(crate) fn chunk_count(len: u64, chunk_bytes: u64) -> u64 {
    len.div_ceil(chunk_bytes.max(1))
}

/// Checks a request for the leaves of chunks `first..first + count` of a
/// buffer of `len` bytes, before any backend sees it.
pub(crate) fn check_request(
    len: u64,
    chunk_bytes: u64,
    first: u64,
    count: u64,
) -> Result<(), AllocError> {
    if chunk_bytes == 0 {
        return Err(AllocError::InvalidArgument {
            reason: "leaf hashes need a chunk size of at least 1 byte",
        });
    }
    if count > MAX_LEAVES_PER_CALL {
        return Err(AllocError::InvalidArgument {
            reason: "too many leaves for one call (at most MAX_LEAVES_PER_CALL); ask for fewer chunks at a time",
        });
    }
    let chunks = chunk_count(len, chunk_bytes);
    match first.checked_add(count) {
        Some(end) if end <= chunks => Ok(()),
        _ => Err(AllocError::InvalidArgument {
            reason: "chunk range past the end of the buffer; ask only for chunks below len / chunk size, rounded up",
        }),
    }
}

/// The byte range of chunk `index`: `index * chunk_bytes` up to the next
/// chunk or the end of the buffer.
pub(crate) fn chunk_range(len: u64, chunk_bytes: u64, index: u64) -> std::ops::Range<u64> {
    let start = index.saturating_mul(chunk_bytes).min(len);
    start..start.saturating_add(chunk_bytes).min(len)
}

/// `SHA-256(0x00 || chunk)` on the host: what the kernel computes per
/// thread, and what the simulated device computes in place.
pub(crate) fn host_leaf_hash(chunk: &[u8]) -> LeafHash {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    hasher.update(chunk);
    hasher.finalize().into()
}

/// The leaves of chunks `first..first + count` of `bytes` (a checked
/// request), hashed on the host.
pub(crate) fn host_leaves(
    bytes: &[u8],
    chunk_bytes: u64,
    first: u64,
    count: u64,
) -> Result<Vec<LeafHash>, AllocError> {
    let len = bytes.len() as u64;
    check_request(len, chunk_bytes, first, count)?;
    (first..first + count)
        .map(|index| {
            let range = chunk_range(len, chunk_bytes, index);
            let (Ok(start), Ok(end)) = (usize::try_from(range.start), usize::try_from(range.end))
            else {
                return Err(out_of_host_range());
            };
            bytes
                .get(start..end)
                .map(host_leaf_hash)
                .ok_or_else(out_of_host_range)
        })
        .collect()
}

fn out_of_host_range() -> AllocError {
    AllocError::InvalidArgument {
        reason: "chunk range outside the buffer's host memory",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GA-KERN-006: the request checks, with the edges.
    #[test]
    fn ga_kern_006_requests_are_checked_before_any_backend() {
        assert!(check_request(10, 0, 0, 0).is_err());
        assert!(check_request(10, 4, 0, 3).is_ok()); // 4 + 4 + 2
        assert!(check_request(10, 4, 0, 4).is_err());
        assert!(check_request(10, 4, 3, 0).is_ok()); // empty, at the end
        assert!(check_request(10, 4, 4, 0).is_err());
        assert!(check_request(10, 4, u64::MAX, 2).is_err());
        assert!(check_request(u64::MAX, 1, 0, MAX_LEAVES_PER_CALL).is_ok());
        assert!(check_request(u64::MAX, 1, 0, MAX_LEAVES_PER_CALL + 1).is_err());
        assert_eq!(chunk_count(0, 4), 0);
        assert_eq!(chunk_count(8, 4), 2);
        assert_eq!(chunk_count(9, 4), 3);
        assert_eq!(chunk_range(10, 4, 2), 8..10);
    }

    /// GA-KERN-006: the RFC 6962 leaf of the empty chunk and of "abc", and
    /// a ragged last chunk.
    #[test]
    fn ga_kern_006_host_leaves_are_rfc_6962_leaves() {
        // RFC 6962 leaf hash of the empty input.
        assert_eq!(
            hex(&host_leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        let leaves = host_leaves(b"abcdefghij", 4, 1, 2).unwrap();
        assert_eq!(leaves, vec![host_leaf_hash(b"efgh"), host_leaf_hash(b"ij")]);
        assert_ne!(host_leaf_hash(b"ij"), host_leaf_hash(b"ij\0\0"));
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
