//! SC-CHUNK-005: the chunked root's memory, measured with a counting
//! allocator (this binary's global allocator), not taken from a comment.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../../test-support/counting_alloc.rs"]
mod counting_alloc;

use seal_crypto::{CHUNK_SIZE, ChunkTree, ChunkedHasher};

const MIB: usize = 1 << 20;

/// Deterministic bytes, made one piece at a time (the input itself is
/// never whole in memory).
fn piece(index: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            ((index * 7919 + i) as u32)
                .wrapping_mul(2_654_435_761)
                .to_be_bytes()[0]
        })
        .collect()
}

/// SC-CHUNK-005: streaming 256 MiB holds at most one batch of 16 chunks
/// (16 MiB) plus the leaves; from a file, one chunk per worker thread. Both
/// give the same root as hashing the bytes whole.
#[test]
fn sc_chunk_005_memory_is_bounded_by_a_batch_or_a_chunk_per_thread() {
    // Warm the thread pool up, so its own set-up is not counted.
    let _ = ChunkTree::from_bytes(&vec![1u8; 4 * CHUNK_SIZE]);

    let total = 256 * MIB;
    let step = 3 * MIB + 12_345; // pieces that straddle chunk boundaries
    let (tree, peak) = counting_alloc::peak_during(|| {
        let mut hasher = ChunkedHasher::new();
        let mut fed = 0;
        let mut index = 0;
        while fed < total {
            let len = step.min(total - fed);
            hasher.update(&piece(index, len));
            fed += len;
            index += 1;
        }
        hasher.finish()
    });
    // One batch, the piece being fed, the leaves and rayon's bookkeeping.
    let bound = 16 * MIB + step + 2 * MIB;
    assert!(
        peak <= bound,
        "streaming 256 MiB held {peak} bytes at peak, more than one batch ({bound})"
    );
    assert_eq!(tree.len_bytes(), total as u64);

    // From a file: one chunk buffer per worker thread.
    let dir = std::env::temp_dir().join(format!("seal-crypto-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("shard.bin");
    {
        use std::io::Write as _;
        let mut file = std::fs::File::create(&path).unwrap();
        let mut fed = 0;
        let mut index = 0;
        while fed < 64 * MIB {
            let len = step.min(64 * MIB - fed);
            file.write_all(&piece(index, len)).unwrap();
            fed += len;
            index += 1;
        }
    }
    let threads = rayon::current_num_threads();
    let file = std::fs::File::open(&path).unwrap();
    let (from_file, peak) = counting_alloc::peak_during(|| ChunkTree::from_file(&file).unwrap());
    let bound = (threads + 1) * CHUNK_SIZE + MIB;
    assert!(
        peak <= bound,
        "hashing a 64 MiB file held {peak} bytes at peak, more than a chunk per thread ({threads} threads: {bound})"
    );
    let whole = std::fs::read(&path).unwrap();
    assert_eq!(from_file, ChunkTree::from_bytes(&whole));
    std::fs::remove_dir_all(&dir).unwrap();
}
