//! The CUDA leaf-hash kernel (`crates/gpu-alloc/kernels/leaf_hash.cu`),
//! compiled for the host through its shim, against `seal-crypto`'s leaves
//! (GA-KERN-001..004, SC-CHUNK-001).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use kernel_host_test::{LEAF_BYTES, LaunchError, launch, leaf_hashes};
use proptest::prelude::*;
use seal_crypto::{CHUNK_SIZE, ChunkTree, Digest, leaf_hash};

const MIB: usize = CHUNK_SIZE;

/// Deterministic pseudo-random bytes (splitmix64), so a failure replays.
fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A buffer holding `content` at an address that is `misalign` bytes past a
/// 16-byte boundary, followed by `tail` bytes of garbage; returns the buffer
/// and where the content starts.
fn placed(content: &[u8], misalign: usize, tail: usize) -> (Vec<u8>, usize) {
    let mut buffer = random_bytes(0xdead_beef, content.len() + 32 + tail);
    let base = buffer.as_ptr() as usize;
    let start = (misalign + 16 - base % 16) % 16;
    buffer[start..start + content.len()].copy_from_slice(content);
    assert_eq!((buffer.as_ptr() as usize + start) % 16, misalign);
    (buffer, start)
}

/// What `seal-crypto` says the leaves are.
fn expected(data: &[u8], chunk_bytes: usize) -> Vec<[u8; LEAF_BYTES]> {
    data.chunks(chunk_bytes)
        .map(|chunk| *leaf_hash(chunk).as_bytes())
        .collect()
}

fn assert_leaves(data: &[u8], chunk_bytes: usize, what: &str) {
    let got = leaf_hashes(data, chunk_bytes as u64).unwrap();
    let want = expected(data, chunk_bytes);
    assert_eq!(got.len(), want.len(), "{what}: leaf count");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(
            g,
            w,
            "{what}: leaf {i} of {} bytes in chunks of {chunk_bytes}",
            data.len()
        );
    }
}

/// GA-KERN-001: one-chunk messages around every SHA-256 block boundary the
/// 0x00 prefix moves: 55 bytes of chunk fill one block with padding, 56 need
/// a second; 63 and 64 end a loaded block; 1 is the shortest chunk.
#[test]
fn ga_kern_001_sizes_around_block_boundaries_match_seal_crypto() {
    let sizes = [
        1, 2, 3, 4, 15, 16, 17, 31, 32, 33, 54, 55, 56, 57, 62, 63, 64, 65, 66, 118, 119, 120, 126,
        127, 128, 129, 191, 192, 193, 1000, 4095, 4096, 4097,
    ];
    for len in sizes {
        let content = random_bytes(len as u64, len);
        let (buffer, start) = placed(&content, 0, 0);
        assert_leaves(&buffer[start..start + len], MIB, &format!("{len} bytes"));
    }
}

/// GA-KERN-001: exactly 1 MiB is one full chunk; 1 MiB + 1 makes a second
/// chunk of one byte; ragged last chunks of assorted lengths.
#[test]
fn ga_kern_001_one_mib_and_one_mib_plus_one_and_ragged_last_chunk() {
    for len in [MIB - 1, MIB, MIB + 1, 2 * MIB, 2 * MIB + 55, 3 * MIB - 64] {
        let content = random_bytes(len as u64 ^ 0x5eed, len);
        let (buffer, start) = placed(&content, 0, 0);
        assert_leaves(&buffer[start..start + len], MIB, &format!("{len} bytes"));
    }
}

/// GA-KERN-001: many 1 MiB chunks and a ragged last one, random contents.
#[test]
fn ga_kern_001_many_chunks_of_one_mib() {
    let len = 9 * MIB + 12_345;
    let content = random_bytes(20_261_202, len);
    let (buffer, start) = placed(&content, 0, 0);
    let data = &buffer[start..start + len];
    let got = leaf_hashes(data, MIB as u64).unwrap();
    assert_eq!(got.len(), 10);
    assert_eq!(got, expected(data, MIB));
}

/// GA-KERN-001: the chunk size is a parameter; every length of the last
/// chunk modulo the block size, for small chunk sizes.
#[test]
fn ga_kern_001_small_chunk_sizes_every_last_chunk_length() {
    for chunk_bytes in [64usize, 4096] {
        for last in 1..=2 * 64 + 1 {
            let len = 3 * chunk_bytes + last.min(chunk_bytes);
            let content = random_bytes((chunk_bytes * 1000 + last) as u64, len);
            let (buffer, start) = placed(&content, 0, 0);
            assert_leaves(
                &buffer[start..start + len],
                chunk_bytes,
                &format!("last chunk {last}"),
            );
        }
    }
    for chunk_bytes in [1usize, 2, 16, 55, 56, 63, 100, 1000] {
        let len = 10 * chunk_bytes + 7;
        let content = random_bytes(chunk_bytes as u64, len);
        let (buffer, start) = placed(&content, 0, 0);
        assert_leaves(
            &buffer[start..start + len],
            chunk_bytes,
            &format!("chunks of {chunk_bytes}"),
        );
    }
}

/// GA-KERN-003: the buffer may start anywhere; chunks that are not 16-byte
/// aligned take the byte-load path and give the same leaves.
#[test]
fn ga_kern_003_every_alignment_of_the_buffer_start() {
    let len = 2 * MIB + 77;
    let content = random_bytes(3, len);
    let want_mib = expected(&content, MIB);
    for misalign in 0..16 {
        let (buffer, start) = placed(&content, misalign, 0);
        let data = &buffer[start..start + len];
        assert_eq!(
            leaf_hashes(data, MIB as u64).unwrap(),
            want_mib,
            "buffer {misalign} bytes past a 16-byte boundary"
        );
        for chunk_bytes in [64usize, 100, 4096] {
            let small = &data[..20 * chunk_bytes + 33];
            assert_leaves(
                small,
                chunk_bytes,
                &format!("misalign {misalign}, chunks of {chunk_bytes}"),
            );
        }
    }
}

/// GA-KERN-002: a subset of chunks, a grid larger than the work, and
/// threads past the last chunk: leaf `t` of the launch is chunk
/// `first_chunk + t`, and nothing is written for chunks that do not exist.
#[test]
fn ga_kern_002_subsets_and_threads_past_the_end_write_nothing() {
    const SENTINEL: u8 = 0xa5;
    let chunk_bytes = 4096usize;
    let len = 10 * chunk_bytes + 100; // 11 chunks, the last 100 bytes
    let content = random_bytes(11, len);
    let (buffer, start) = placed(&content, 0, 0);
    let data = &buffer[start..start + len];
    let want = expected(data, chunk_bytes);

    // Chunks 3..7, in blocks of 3 threads (the last block has 2 idle threads).
    let mut out = vec![SENTINEL; 6 * LEAF_BYTES];
    launch(data, chunk_bytes as u64, 3, 4, 3, &mut out).unwrap();
    for t in 0..4 {
        assert_eq!(out[t * LEAF_BYTES..][..LEAF_BYTES], want[3 + t], "leaf {t}");
    }
    assert!(
        out[4 * LEAF_BYTES..].iter().all(|&b| b == SENTINEL),
        "a thread t >= count wrote"
    );

    // Asking for more chunks than there are: the ragged last one is hashed,
    // the entries past it are left alone.
    let mut out = vec![SENTINEL; 8 * LEAF_BYTES];
    launch(data, chunk_bytes as u64, 8, 8, 5, &mut out).unwrap();
    for t in 0..3 {
        assert_eq!(out[t * LEAF_BYTES..][..LEAF_BYTES], want[8 + t], "leaf {t}");
    }
    assert!(out[3 * LEAF_BYTES..].iter().all(|&b| b == SENTINEL));

    // Nothing to do: first chunk past the end, an empty buffer, chunk size 0,
    // and a first chunk so large that first + t would overflow.
    for (data, chunk_bytes, first) in [
        (data, chunk_bytes as u64, 11),
        (&data[..0], chunk_bytes as u64, 0),
        (data, 0, 0),
        (data, 1, u64::MAX - 1),
    ] {
        let mut out = vec![SENTINEL; 4 * LEAF_BYTES];
        launch(data, chunk_bytes, first, 4, 2, &mut out).unwrap();
        assert!(
            out.iter().all(|&b| b == SENTINEL),
            "wrote for chunk size {chunk_bytes}, first {first}"
        );
    }
}

/// GA-KERN-002: the bytes after `len` (the next allocation, for the last
/// chunk) do not change any leaf, at any alignment.
#[test]
fn ga_kern_002_bytes_past_the_end_do_not_count() {
    for misalign in [0usize, 1, 15] {
        for len in [MIB + 1, MIB + 63, 2 * MIB] {
            let content = random_bytes(len as u64 + 7, len);
            let want = expected(&content, MIB);
            for seed in [1u64, 2] {
                let (mut buffer, start) = placed(&content, misalign, 256);
                let garbage = random_bytes(seed, 256);
                buffer[start + len..start + len + 256].copy_from_slice(&garbage);
                let got = leaf_hashes(&buffer[start..start + len], MIB as u64).unwrap();
                assert_eq!(got, want, "{len} bytes at misalign {misalign}");
            }
        }
    }
}

/// The wrapper refuses an output too short for `count` leaves and a block
/// of zero threads, before the kernel runs.
#[test]
fn ga_kern_002_launch_checks_output_and_grid() {
    let data = [1u8; 100];
    let mut out = vec![0u8; 2 * LEAF_BYTES];
    assert!(matches!(
        launch(&data, 10, 0, 3, 32, &mut out),
        Err(LaunchError::OutputTooShort { needed: 96, .. })
    ));
    assert_eq!(
        launch(&data, 10, 0, 2, 0, &mut out),
        Err(LaunchError::BadGrid)
    );
}

/// GA-KERN-004, SC-CHUNK-001: the kernel's leaves, combined on the host, give
/// the chunked roots of the spec's test vectors (computed by an independent
/// Python implementation), not only what seal-crypto computes.
#[test]
fn ga_kern_004_kernel_leaves_give_the_spec_vector_roots() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../seal-crypto/tests/vectors/chunked-digest-v1.json"
    ))
    .unwrap();
    let vectors: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut checked = 0;
    for vector in vectors["vectors"].as_array().unwrap() {
        assert_eq!(vector["pattern"], "byte i = i mod 251");
        let len = vector["length"].as_u64().unwrap() as usize;
        if len == 0 {
            continue; // no chunks, no kernel launch
        }
        let content: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let (buffer, start) = placed(&content, 0, 0);
        let leaves = leaf_hashes(&buffer[start..start + len], MIB as u64).unwrap();
        assert_eq!(leaves.len() as u64, vector["chunk_count"].as_u64().unwrap());
        let leaves: Vec<Digest> = leaves.into_iter().map(Digest::from_bytes).collect();
        let tree = ChunkTree::from_leaves(leaves, len as u64).unwrap();
        assert_eq!(
            tree.root().to_hex(),
            vector["chunked_root"].as_str().unwrap(),
            "vector {}",
            vector["name"]
        );
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} vectors checked");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// GA-KERN-001, GA-KERN-003: random lengths, chunk sizes, alignments
    /// and contents.
    #[test]
    fn prop_ga_kern_001_random_buffers_match_seal_crypto(
        len in 1usize..20_000,
        chunk_bytes in prop_oneof![Just(64usize), Just(4096), 1usize..600, Just(MIB)],
        misalign in 0usize..16,
        seed in any::<u64>(),
    ) {
        let content = random_bytes(seed, len);
        let (buffer, start) = placed(&content, misalign, 64);
        let data = &buffer[start..start + len];
        prop_assert_eq!(leaf_hashes(data, chunk_bytes as u64).unwrap(), expected(data, chunk_bytes));
    }
}
