//! RFC 6962 inner-node hashes of four independent pairs at once.
//!
//! One SHA-256 is a chain of dependent rounds: on its own it keeps the CPU's
//! SHA unit waiting for the previous round most of the time (one stream runs
//! at about 37 ns a block on the development machine's AMD EPYC). Four
//! independent hashes interleaved round by round fill those gaps, which is
//! what verifying many Merkle proofs, or hashing a level of a tree, has to
//! offer. With the x86 SHA extensions and AVX (checked at run time) the
//! four are compressed together; without them each is compressed on its own
//! by `sha2`, with the same result.
//!
//! The input of a node hash is always 65 bytes (`0x01 || left || right`), so
//! its two padded blocks are laid out directly, and the second one's message
//! schedule, which depends on one byte only, comes from a table.

/// How many node hashes [`node_hash_x4`] computes at once.
pub const NODE_LANES: usize = 4;

/// SHA-256's initial state (FIPS 180-4 §5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// The RFC 6962 inner-node hashes `SHA-256(0x01 || left || right)` of four
/// `[left, right]` pairs, in order.
///
/// Equal to [`crate::node_hash`] of each pair. A caller with fewer than four
/// pairs fills the rest with anything and ignores their hashes.
///
/// ```
/// use seal_crypto::{node_hash_x4, node_hash, sha256};
///
/// let (a, b) = (sha256(b"a"), sha256(b"b"));
/// let pairs = [[*a.as_bytes(), *b.as_bytes()]; 4];
/// let hashes = node_hash_x4(&pairs);
/// assert_eq!(&hashes[3], node_hash(&a, &b).as_bytes());
/// ```
pub fn node_hash_x4(pairs: &[[[u8; 32]; 2]; NODE_LANES]) -> [[u8; 32]; NODE_LANES] {
    node_hashes(pairs)
}

/// One RFC 6962 inner-node hash, `SHA-256(0x01 || left || right)`, by the
/// same path as [`node_hash_x4`] (about 1.4 times `sha2`'s speed with the
/// SHA extensions: the second block's schedule is precomputed). This is
/// what [`crate::node_hash`] computes.
pub fn node_hash_bytes(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let [hash] = node_hashes(&[[*left, *right]]);
    hash
}

fn node_hashes<const M: usize>(pairs: &[[[u8; 32]; 2]; M]) -> [[u8; 32]; M] {
    #[cfg(target_arch = "x86_64")]
    if let Some(hashes) = shani::node_hashes(pairs) {
        return hashes;
    }
    pairs.map(|[left, right]| portable_node_hash(&left, &right))
}

/// One node hash through `sha2`'s compression function.
fn portable_node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut state = SHA256_IV;
    sha2::block_api::compress256(&mut state, &node_blocks(left, right));
    state_bytes(state)
}

/// Whether [`node_hash_x4`] runs on the CPU's SHA extensions here (for
/// benchmarks to say which path they measured).
pub fn node_lanes_accelerated() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        shani::available()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The two padded blocks of `0x01 || left || right || 0x80 || zeros ||
/// the bit length (520)`.
fn node_blocks(left: &[u8; 32], right: &[u8; 32]) -> [[u8; 64]; 2] {
    let mut first = [0u8; 64];
    let mut second = [0u8; 64];
    first[0] = 0x01;
    first[1..33].copy_from_slice(left);
    first[33..].copy_from_slice(&right[..31]);
    second[0] = right[31];
    second[1] = 0x80;
    second[56..].copy_from_slice(&520u64.to_be_bytes());
    [first, second]
}

fn state_bytes(state: [u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (dst, word) in out.chunks_exact_mut(4).zip(state) {
        dst.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// Four node hashes interleaved on the x86 SHA extensions, with the round
/// structure of Intel's published SHA-NI sample: the state held as (ABEF,
/// CDGH), two rounds per `sha256rnds2`, the message schedule by
/// `sha256msg1`/`sha256msg2`. The blocks are assembled in registers from
/// the 32-byte halves (assembling them byte by byte in memory and loading
/// them back costs more than the rounds).
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod shani {
    use core::arch::x86_64::{
        __m128i, _mm_add_epi32, _mm_alignr_epi8, _mm_blend_epi16, _mm_loadu_si128, _mm_set_epi32,
        _mm_set_epi64x, _mm_setzero_si128, _mm_sha256msg1_epu32, _mm_sha256msg2_epu32,
        _mm_sha256rnds2_epu32, _mm_shuffle_epi8, _mm_shuffle_epi32, _mm_storeu_si128,
    };

    use super::SHA256_IV;

    /// SHA-256's round constants (FIPS 180-4 §4.2.2).
    const K: [u32; 64] = [
        0x428a_2f98,
        0x7137_4491,
        0xb5c0_fbcf,
        0xe9b5_dba5,
        0x3956_c25b,
        0x59f1_11f1,
        0x923f_82a4,
        0xab1c_5ed5,
        0xd807_aa98,
        0x1283_5b01,
        0x2431_85be,
        0x550c_7dc3,
        0x72be_5d74,
        0x80de_b1fe,
        0x9bdc_06a7,
        0xc19b_f174,
        0xe49b_69c1,
        0xefbe_4786,
        0x0fc1_9dc6,
        0x240c_a1cc,
        0x2de9_2c6f,
        0x4a74_84aa,
        0x5cb0_a9dc,
        0x76f9_88da,
        0x983e_5152,
        0xa831_c66d,
        0xb003_27c8,
        0xbf59_7fc7,
        0xc6e0_0bf3,
        0xd5a7_9147,
        0x06ca_6351,
        0x1429_2967,
        0x27b7_0a85,
        0x2e1b_2138,
        0x4d2c_6dfc,
        0x5338_0d13,
        0x650a_7354,
        0x766a_0abb,
        0x81c2_c92e,
        0x9272_2c85,
        0xa2bf_e8a1,
        0xa81a_664b,
        0xc24b_8b70,
        0xc76c_51a3,
        0xd192_e819,
        0xd699_0624,
        0xf40e_3585,
        0x106a_a070,
        0x19a4_c116,
        0x1e37_6c08,
        0x2748_774c,
        0x34b0_bcb5,
        0x391c_0cb3,
        0x4ed8_aa4a,
        0x5b9c_ca4f,
        0x682e_6ff3,
        0x748f_82ee,
        0x78a5_636f,
        0x84c8_7814,
        0x8cc7_0208,
        0x90be_fffa,
        0xa450_6ceb,
        0xbef9_a3f7,
        0xc671_78f2,
    ];

    /// The second block of a node hash is `right[31]`, then the same padding
    /// every time, so its whole message schedule depends on that one byte:
    /// row `b` is `W[t] + K[t]` for the second block starting with byte
    /// `b`. This spares the SHA unit a third of its work per node hash
    /// (64 KiB, computed at compile time).
    static SECOND_BLOCK_WK: [[u32; 64]; 256] = second_block_table();

    // Evaluated only at compile time: an index out of bounds would fail
    // the build, it cannot happen at run time.
    #[allow(clippy::indexing_slicing)]
    const fn second_block_table() -> [[u32; 64]; 256] {
        let mut table = [[0u32; 64]; 256];
        let mut byte = 0;
        while byte < 256 {
            table[byte] = second_block_wk(byte as u32);
            byte += 1;
        }
        table
    }

    /// `W[t] + K[t]` of the second block whose first byte is `first`.
    // Evaluated only at compile time, as above.
    #[allow(clippy::indexing_slicing)]
    const fn second_block_wk(first: u32) -> [u32; 64] {
        const fn sigma0(x: u32) -> u32 {
            x.rotate_right(7) ^ x.rotate_right(18) ^ (x >> 3)
        }
        const fn sigma1(x: u32) -> u32 {
            x.rotate_right(17) ^ x.rotate_right(19) ^ (x >> 10)
        }
        let mut w = [0u32; 64];
        // `+`, not `|`: the bits do not overlap, and a mutation of `+`
        // changes the value.
        w[0] = (first << 24) + 0x0080_0000;
        w[15] = 520;
        let mut t = 16;
        while t < 64 {
            w[t] = sigma1(w[t - 2])
                .wrapping_add(w[t - 7])
                .wrapping_add(sigma0(w[t - 15]))
                .wrapping_add(w[t - 16]);
            t += 1;
        }
        let mut t = 0;
        while t < 64 {
            w[t] = w[t].wrapping_add(K[t]);
            t += 1;
        }
        w
    }

    /// The CPU features the interleaved path is compiled for.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(super) enum Feature {
        Sha,
        Sse2,
        Ssse3,
        Sse41,
        Avx,
    }

    /// Every feature the path needs.
    pub(super) const NEEDED: [Feature; 5] = [
        Feature::Sha,
        Feature::Sse2,
        Feature::Ssse3,
        Feature::Sse41,
        Feature::Avx,
    ];

    /// Whether this CPU has the extensions the interleaved path needs:
    /// asked once, then one atomic load per call (every node hash asks).
    pub(super) fn available() -> bool {
        static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *AVAILABLE.get_or_init(detect)
    }

    fn detect() -> bool {
        supports(|feature| match feature {
            Feature::Sha => std::is_x86_feature_detected!("sha"),
            Feature::Sse2 => std::is_x86_feature_detected!("sse2"),
            Feature::Ssse3 => std::is_x86_feature_detected!("ssse3"),
            Feature::Sse41 => std::is_x86_feature_detected!("sse4.1"),
            Feature::Avx => std::is_x86_feature_detected!("avx"),
        })
    }

    /// Whether a CPU with the features `has` says yes to can run the path:
    /// only one with all of them.
    pub(super) fn supports(has: impl Fn(Feature) -> bool) -> bool {
        NEEDED.into_iter().all(has)
    }

    /// The node hashes of `N` pairs, or `None` on a CPU without the
    /// extensions.
    pub(super) fn node_hashes<const N: usize>(pairs: &[[[u8; 32]; 2]; N]) -> Option<[[u8; 32]; N]> {
        if !available() {
            return None;
        }
        // SAFETY: `available` has just confirmed SHA, SSE2, SSSE3 and
        // SSE4.1, every feature `node_hashes_shani` is compiled for.
        Some(unsafe { node_hashes_shani(pairs) })
    }

    /// # Safety
    /// The CPU must support SHA, SSE2, SSSE3 and SSE4.1.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1,avx")]
    unsafe fn node_hashes_shani<const N: usize>(pairs: &[[[u8; 32]; 2]; N]) -> [[u8; 32]; N] {
        // Reverses the bytes of each 32-bit word: SHA-256 is big-endian.
        let byte_swap = _mm_set_epi64x(0x0c0d_0e0f_0809_0a0b, 0x0405_0607_0001_0203);
        // 0x01 in the last byte: shifted in front of `left` by `alignr`.
        let prefix = _mm_set_epi64x(0x0100_0000_0000_0000, 0);
        let (iv_abef, iv_cdgh) = load_state(&SHA256_IV);

        // Each lane's first block as four 16-byte quarters, in message word
        // order, and the schedule of its second block.
        let mut first = [[_mm_setzero_si128(); 4]; N];
        let mut second: [&[u32; 64]; N] = [&SECOND_BLOCK_WK[0]; N];
        for ((pair, w), row) in pairs.iter().zip(&mut first).zip(&mut second) {
            let [left, right] = pair;
            let [l0, l1] = halves(left);
            let [r0, r1] = halves(right);
            // 0x01 || left || right[..31].
            let block = [
                _mm_alignr_epi8(l0, prefix, 15),
                _mm_alignr_epi8(l1, l0, 15),
                _mm_alignr_epi8(r0, l1, 15),
                _mm_alignr_epi8(r1, r0, 15),
            ];
            // Loops, not `map`: a closure would not inline the intrinsics.
            for (quarter, q) in w.iter_mut().zip(block) {
                *quarter = _mm_shuffle_epi8(q, byte_swap);
            }
            let [.., last] = right;
            // SAFETY: the table has a row for each of the 256 values of a byte.
            *row = unsafe { &*SECOND_BLOCK_WK.as_ptr().add(usize::from(*last)) };
        }

        let mut abef = [iv_abef; N];
        let mut cdgh = [iv_cdgh; N];
        // Sixteen groups of four rounds, unrolled so that every lane's
        // registers stay registers; the message words of each group come
        // from `$msg`.
        macro_rules! rounds {
            ($msg:ident; $($g:literal)*) => {$(
                let msg = $msg!($g);
                for ((x, y), m) in abef.iter().zip(cdgh.iter_mut()).zip(&msg) {
                    *y = _mm_sha256rnds2_epu32(*y, *x, *m);
                }
                for ((x, y), m) in abef.iter_mut().zip(cdgh.iter()).zip(&msg) {
                    *x = _mm_sha256rnds2_epu32(*x, *y, _mm_shuffle_epi32(*m, 0x0e));
                }
            )*};
        }

        // The first block: its message schedule computed as it goes, `w[lane][0]`
        // holding the words group `g` uses.
        let mut w = first;
        macro_rules! scheduled {
            ($g:literal) => {{
                // SAFETY: `K[4 * g..]` holds at least four u32, 16 bytes;
                // the load needs no alignment.
                let k = unsafe { _mm_loadu_si128(K[4 * $g..].as_ptr().cast()) };
                let mut msg = [_mm_setzero_si128(); N];
                for (lane_msg, lane_w) in msg.iter_mut().zip(&mut w) {
                    let [w0, w1, w2, w3] = *lane_w;
                    *lane_msg = _mm_add_epi32(w0, k);
                    if $g < 12 {
                        // W[t+16..t+20] from W[t..], W[t+4..], W[t+9..] and
                        // W[t+12..].
                        let sigma0 = _mm_sha256msg1_epu32(w0, w1);
                        let with_w9 = _mm_add_epi32(sigma0, _mm_alignr_epi8(w3, w2, 4));
                        *lane_w = [w1, w2, w3, _mm_sha256msg2_epu32(with_w9, w3)];
                    } else {
                        *lane_w = [w1, w2, w3, w0];
                    }
                }
                msg
            }};
        }
        rounds!(scheduled; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
        for (x, y) in abef.iter_mut().zip(cdgh.iter_mut()) {
            *x = _mm_add_epi32(*x, iv_abef);
            *y = _mm_add_epi32(*y, iv_cdgh);
        }

        // The second block: its schedule from the table.
        let (saved_abef, saved_cdgh) = (abef, cdgh);
        macro_rules! tabled {
            ($g:literal) => {{
                let mut msg = [_mm_setzero_si128(); N];
                for (lane_msg, row) in msg.iter_mut().zip(&second) {
                    // SAFETY: each row holds 64 u32, so `row[4 * g..]`
                    // holds at least four, 16 bytes; the load needs no
                    // alignment.
                    *lane_msg = unsafe { _mm_loadu_si128(row[4 * $g..].as_ptr().cast()) };
                }
                msg
            }};
        }
        rounds!(tabled; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
        for (x, saved) in abef.iter_mut().zip(saved_abef) {
            *x = _mm_add_epi32(*x, saved);
        }
        for (y, saved) in cdgh.iter_mut().zip(saved_cdgh) {
            *y = _mm_add_epi32(*y, saved);
        }

        let mut out = [[0u8; 32]; N];
        for ((hash, x), y) in out.iter_mut().zip(abef).zip(cdgh) {
            let (dcba, hgfe) = unload_state(x, y);
            let (mut low, mut high) = ([0u8; 16], [0u8; 16]);
            // SAFETY: each array is 16 bytes; the store needs no alignment.
            unsafe {
                _mm_storeu_si128(low.as_mut_ptr().cast(), _mm_shuffle_epi8(dcba, byte_swap));
                _mm_storeu_si128(high.as_mut_ptr().cast(), _mm_shuffle_epi8(hgfe, byte_swap));
            }
            let (head, tail) = hash.split_at_mut(16);
            head.copy_from_slice(&low);
            tail.copy_from_slice(&high);
        }
        out
    }

    /// A 32-byte hash as two 16-byte registers, in memory order.
    #[target_feature(enable = "sse2,avx")]
    fn halves(hash: &[u8; 32]) -> [__m128i; 2] {
        let (low, high) = hash.split_at(16);
        // SAFETY: each half is 16 bytes; the load needs no alignment.
        unsafe {
            [
                _mm_loadu_si128(low.as_ptr().cast()),
                _mm_loadu_si128(high.as_ptr().cast()),
            ]
        }
    }

    /// `[a, b, c, d, e, f, g, h]` into the registers (ABEF, CDGH).
    #[target_feature(enable = "sse2,ssse3,sse4.1,avx")]
    fn load_state(state: &[u32; 8]) -> (__m128i, __m128i) {
        let [a, b, c, d, e, f, g, h] = state.map(|word| word as i32);
        let dcba = _mm_set_epi32(d, c, b, a);
        let hgfe = _mm_set_epi32(h, g, f, e);
        let cdab = _mm_shuffle_epi32(dcba, 0xb1);
        let efgh = _mm_shuffle_epi32(hgfe, 0x1b);
        (
            _mm_alignr_epi8(cdab, efgh, 8),
            _mm_blend_epi16(efgh, cdab, 0xf0),
        )
    }

    /// The inverse of [`load_state`]: (ABEF, CDGH) into (DCBA, HGFE), the
    /// words in order.
    #[target_feature(enable = "sse2,ssse3,sse4.1,avx")]
    fn unload_state(abef: __m128i, cdgh: __m128i) -> (__m128i, __m128i) {
        let feba = _mm_shuffle_epi32(abef, 0x1b);
        let dchg = _mm_shuffle_epi32(cdgh, 0xb1);
        (
            _mm_blend_epi16(feba, dchg, 0xf0),
            _mm_alignr_epi8(dchg, feba, 8),
        )
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// SC-LANE-001: the path needs every one of its features: a CPU
        /// lacking any one of them does not take it.
        #[test]
        fn sc_lane_001_every_feature_is_required() {
            assert!(supports(|_| true));
            for missing in NEEDED {
                assert!(!supports(|feature| feature != missing), "{missing:?}");
            }
        }

        /// SC-LANE-001
        #[test]
        fn sc_lane_001_the_interleaved_path_equals_sha2_on_every_lane() {
            const N: usize = super::super::NODE_LANES;
            // The path is taken exactly where the CPU has what it needs.
            let fast = std::is_x86_feature_detected!("sha")
                && std::is_x86_feature_detected!("sse2")
                && std::is_x86_feature_detected!("ssse3")
                && std::is_x86_feature_detected!("sse4.1")
                && std::is_x86_feature_detected!("avx");
            assert_eq!(node_hashes(&[[[0; 32]; 2]; N]).is_some(), fast);
            assert_eq!(super::super::node_lanes_accelerated(), fast);
            if !fast {
                // The public function's tests cover the fallback.
                eprintln!("this CPU lacks SHA or AVX: the interleaved path cannot run here");
                return;
            }
            let mut seed = 0x9e37_79b9_7f4a_7c15u64;
            let mut byte = || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            };
            for _ in 0..500 {
                let mut pairs = [[[0u8; 32]; 2]; N];
                for b in pairs.iter_mut().flatten().flatten() {
                    *b = byte();
                }
                let expected = pairs.map(|[l, r]| super::super::portable_node_hash(&l, &r));
                assert_eq!(node_hashes(&pairs), Some(expected));
                let [first, ..] = pairs;
                assert_eq!(node_hashes(&[first]), Some([expected[0]]));
            }
            // Every row of the second block's table.
            for last in 0..=255u8 {
                let mut pair = [[byte(); 32], [byte(); 32]];
                pair[1][31] = last;
                let expected = super::super::portable_node_hash(&pair[0], &pair[1]);
                assert_eq!(node_hashes(&[pair]), Some([expected]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Digest, node_hash, sha256};

    #[test]
    /// SC-LANE-001
    fn sc_lane_001_every_lane_is_the_rfc_6962_node_hash_of_its_pair() {
        let hashes: Vec<Digest> = (0u32..9).map(|i| sha256(&i.to_be_bytes())).collect();
        for window in hashes.windows(8) {
            let pairs: [[[u8; 32]; 2]; NODE_LANES] =
                std::array::from_fn(|i| [*window[2 * i].as_bytes(), *window[2 * i + 1].as_bytes()]);
            let got = node_hash_x4(&pairs);
            for (lane, [left, right]) in got.iter().zip(pairs) {
                let mut input = vec![0x01];
                input.extend_from_slice(&left);
                input.extend_from_slice(&right);
                assert_eq!(lane, sha256(&input).as_bytes());
                assert_eq!(
                    lane,
                    node_hash(&Digest::from_bytes(left), &Digest::from_bytes(right)).as_bytes()
                );
            }
        }
    }

    #[test]
    /// SC-LANE-001
    fn sc_lane_001_lanes_do_not_mix() {
        let a = *sha256(b"a").as_bytes();
        let b = *sha256(b"b").as_bytes();
        let alone = node_hash_x4(&[[a, b]; NODE_LANES]);
        let mixed = node_hash_x4(&[[a, b], [b, a], [a, a], [b, b]]);
        assert_eq!(mixed[0], alone[0]);
        assert_ne!(mixed[1], mixed[0]);
        assert_ne!(mixed[2], mixed[3]);
    }
}
