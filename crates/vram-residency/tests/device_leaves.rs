//! VR-VER-006, GA-KERN-006: the leaves a device computes where the weights
//! are are byte for byte `seal-crypto`'s, at the sizes where a chunked hash
//! goes wrong (one byte, exactly one chunk, one byte more, a ragged last
//! chunk, many chunks), so verifying by device leaves checks the very root
//! the seal signed. On CI this is the simulated device; the CUDA kernel's
//! own proof is `kernel-host-test` and, on a GPU, `gpu-alloc`'s CUDA tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use gpu_alloc::{HostDevice, HostDeviceConfig, VramAllocator};
use seal_crypto::{CHUNK_SIZE, ChunkTree};

#[test]
fn vr_ver_006_device_leaves_are_seal_crypto_leaves() {
    const MIB: usize = CHUNK_SIZE;
    let device = HostDevice::new(HostDeviceConfig::with_capacity(64 << 20));
    for len in [1, MIB - 1, MIB, MIB + 1, 3 * MIB + 12_345, 17 * MIB] {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
        let mut buffer = device.allocate(len as u64).unwrap();
        buffer.write(0, &bytes).unwrap();
        let tree = ChunkTree::from_bytes(&bytes);
        let count = tree.chunk_count();
        let leaves = buffer.leaf_hashes(MIB as u64, 0, count).unwrap();
        let expected: Vec<[u8; 32]> = tree.leaves().iter().map(|d| *d.as_bytes()).collect();
        assert_eq!(leaves, expected, "{len} bytes");
        // A range in the middle, and the last chunk alone.
        if count > 2 {
            assert_eq!(
                buffer.leaf_hashes(MIB as u64, 1, count - 2).unwrap(),
                expected[1..(count - 1) as usize],
                "{len} bytes"
            );
        }
        assert_eq!(
            buffer.leaf_hashes(MIB as u64, count - 1, 1).unwrap(),
            expected[(count - 1) as usize..],
            "{len} bytes"
        );
        assert!(buffer.leaf_hashes(MIB as u64, count, 1).is_err());
    }
}
