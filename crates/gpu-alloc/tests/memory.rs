//! GA-008: `read_chunks` uses host memory bounded by its chunk, measured
//! with a counting allocator (this binary's global allocator).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../../test-support/counting_alloc.rs"]
mod counting_alloc;

use gpu_alloc::{HostDevice, HostDeviceConfig, VramAllocator};

const MIB: u64 = 1 << 20;

/// GA-008: reading a 64 MiB buffer back in 1 MiB chunks holds about one
/// chunk of host memory, never a full-size copy; the bytes arrive in order.
#[test]
fn ga_008_read_chunks_holds_one_chunk_of_host_memory() {
    let device = HostDevice::new(HostDeviceConfig::with_capacity(128 * MIB));
    let mut buffer = device.allocate(64 * MIB).unwrap();
    let pattern: Vec<u8> = (0..MIB).map(|i| (i % 251) as u8).collect();
    for at in 0..64 {
        buffer.write(at * MIB, &pattern).unwrap();
    }
    let mut seen = 0u64;
    let mut in_order = true;
    let (result, peak) = counting_alloc::peak_during(|| {
        buffer.read_chunks(0, 64 * MIB, MIB as usize, &mut |piece| {
            in_order &= piece == pattern.as_slice();
            seen += piece.len() as u64;
            Ok(())
        })
    });
    result.unwrap();
    assert_eq!(seen, 64 * MIB);
    assert!(in_order, "every piece is the pattern, in order");
    let bound = (2 * MIB) as usize;
    assert!(
        peak <= bound,
        "read_chunks of 64 MiB in 1 MiB chunks held {peak} bytes of host memory at peak (bound {bound}): a full-size copy?"
    );
}
