// leaf_hash.cu: RFC 6962 leaf hashes of a device buffer, one chunk per thread.
//
// Contract (spec GA-KERN-001..003 in .specs/gpu-alloc.md): the buffer `data`
// of `len` bytes is cut into chunks of `chunk_bytes` bytes (1 MiB in
// seal-crypto's chunked digest, SC-CHUNK-001; the last chunk holds the
// remainder, 1 byte at least). Thread `t` of the launch (counted over the
// whole grid, x dimension only) hashes chunk `first_chunk + t`, for
// `t < count`, and writes SHA-256(0x00 || chunk) to out[32 * t .. 32 * t + 32]
// as the 32 big-endian digest bytes, exactly as
// `seal_crypto::leaf_hash` returns them. Threads whose `t` is at or past
// `count`, or whose chunk starts at or past `len`, return without writing;
// `chunk_bytes == 0` writes nothing. No bytes outside [data, data + len) are
// read, no memory is allocated.
//
// Speed: where a chunk starts 16-byte aligned (always, for a cuMemAlloc
// buffer, which is 256-byte aligned, cut into 1 MiB chunks) its blocks are
// read with 16-byte loads, the next block's loads issued before the current
// block is compressed. The 0x00 prefix shifts the message one byte against
// memory: message word j of block k is bytes chunk[64k + 4j - 1 .. 64k + 4j + 3),
// which one byte permute makes from two neighbouring loaded words. The
// message's last block or two (the bytes left, the 0x80 pad, the bit length)
// and every block of a chunk that is not 16-byte aligned are assembled from
// single-byte loads.
//
// The same file compiles for the host as C++ with host_shim.h force-included
// (crates/kernel-host-test), and is checked there against seal-crypto on
// every CI run. Regenerate the committed PTX and cubins with
// `cargo xtask kernels` after any change; CI's `cargo xtask kernels --check`
// fails while they are stale (docs/gpu-kernel.md).

#if defined(__CUDACC_RTC__)
// NVRTC has no C library headers.
typedef unsigned char uint8_t;
typedef unsigned int uint32_t;
typedef unsigned long long uint64_t;
#else
#include <stdint.h>
#endif

#define LH_ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
#define LH_BSIG0(x) (LH_ROTR(x, 2) ^ LH_ROTR(x, 13) ^ LH_ROTR(x, 22))
#define LH_BSIG1(x) (LH_ROTR(x, 6) ^ LH_ROTR(x, 11) ^ LH_ROTR(x, 25))
#define LH_SSIG0(x) (LH_ROTR(x, 7) ^ LH_ROTR(x, 18) ^ ((x) >> 3))
#define LH_SSIG1(x) (LH_ROTR(x, 17) ^ LH_ROTR(x, 19) ^ ((x) >> 10))
#define LH_CH(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
#define LH_MAJ(x, y, z) (((x) & (y)) | ((z) & ((x) | (y))))

// Message schedule for rounds 16..63 over a rolling 16-word window; `i` is
// always a literal, so every index is a constant and `w` stays in registers.
#define LH_W(i)                                                                \
    (w[(i) & 15] += LH_SSIG1(w[((i) - 2) & 15]) + w[((i) - 7) & 15] +          \
                    LH_SSIG0(w[((i) - 15) & 15]))

// One round; the callers rotate the names of the working variables instead of
// moving their values.
#define LH_ROUND(a, b, c, d, e, f, g, h, x, k)                                 \
    do {                                                                       \
        const uint32_t t1 = (h) + LH_BSIG1(e) + LH_CH(e, f, g) + (k) + (x);    \
        const uint32_t t2 = LH_BSIG0(a) + LH_MAJ(a, b, c);                     \
        (d) += t1;                                                             \
        (h) = t1 + t2;                                                         \
    } while (0)

// SHA-256 compression of one 64-byte block, given as 16 big-endian words
// (FIPS 180-4, section 6.2.2), fully unrolled with the standard constants.
__device__ __forceinline__ void lh_compress(uint32_t st[8], uint32_t w[16]) {
    uint32_t a = st[0], b = st[1], c = st[2], d = st[3];
    uint32_t e = st[4], f = st[5], g = st[6], h = st[7];
    LH_ROUND(a, b, c, d, e, f, g, h, w[0], 0x428a2f98u);
    LH_ROUND(h, a, b, c, d, e, f, g, w[1], 0x71374491u);
    LH_ROUND(g, h, a, b, c, d, e, f, w[2], 0xb5c0fbcfu);
    LH_ROUND(f, g, h, a, b, c, d, e, w[3], 0xe9b5dba5u);
    LH_ROUND(e, f, g, h, a, b, c, d, w[4], 0x3956c25bu);
    LH_ROUND(d, e, f, g, h, a, b, c, w[5], 0x59f111f1u);
    LH_ROUND(c, d, e, f, g, h, a, b, w[6], 0x923f82a4u);
    LH_ROUND(b, c, d, e, f, g, h, a, w[7], 0xab1c5ed5u);
    LH_ROUND(a, b, c, d, e, f, g, h, w[8], 0xd807aa98u);
    LH_ROUND(h, a, b, c, d, e, f, g, w[9], 0x12835b01u);
    LH_ROUND(g, h, a, b, c, d, e, f, w[10], 0x243185beu);
    LH_ROUND(f, g, h, a, b, c, d, e, w[11], 0x550c7dc3u);
    LH_ROUND(e, f, g, h, a, b, c, d, w[12], 0x72be5d74u);
    LH_ROUND(d, e, f, g, h, a, b, c, w[13], 0x80deb1feu);
    LH_ROUND(c, d, e, f, g, h, a, b, w[14], 0x9bdc06a7u);
    LH_ROUND(b, c, d, e, f, g, h, a, w[15], 0xc19bf174u);
    LH_ROUND(a, b, c, d, e, f, g, h, LH_W(16), 0xe49b69c1u);
    LH_ROUND(h, a, b, c, d, e, f, g, LH_W(17), 0xefbe4786u);
    LH_ROUND(g, h, a, b, c, d, e, f, LH_W(18), 0x0fc19dc6u);
    LH_ROUND(f, g, h, a, b, c, d, e, LH_W(19), 0x240ca1ccu);
    LH_ROUND(e, f, g, h, a, b, c, d, LH_W(20), 0x2de92c6fu);
    LH_ROUND(d, e, f, g, h, a, b, c, LH_W(21), 0x4a7484aau);
    LH_ROUND(c, d, e, f, g, h, a, b, LH_W(22), 0x5cb0a9dcu);
    LH_ROUND(b, c, d, e, f, g, h, a, LH_W(23), 0x76f988dau);
    LH_ROUND(a, b, c, d, e, f, g, h, LH_W(24), 0x983e5152u);
    LH_ROUND(h, a, b, c, d, e, f, g, LH_W(25), 0xa831c66du);
    LH_ROUND(g, h, a, b, c, d, e, f, LH_W(26), 0xb00327c8u);
    LH_ROUND(f, g, h, a, b, c, d, e, LH_W(27), 0xbf597fc7u);
    LH_ROUND(e, f, g, h, a, b, c, d, LH_W(28), 0xc6e00bf3u);
    LH_ROUND(d, e, f, g, h, a, b, c, LH_W(29), 0xd5a79147u);
    LH_ROUND(c, d, e, f, g, h, a, b, LH_W(30), 0x06ca6351u);
    LH_ROUND(b, c, d, e, f, g, h, a, LH_W(31), 0x14292967u);
    LH_ROUND(a, b, c, d, e, f, g, h, LH_W(32), 0x27b70a85u);
    LH_ROUND(h, a, b, c, d, e, f, g, LH_W(33), 0x2e1b2138u);
    LH_ROUND(g, h, a, b, c, d, e, f, LH_W(34), 0x4d2c6dfcu);
    LH_ROUND(f, g, h, a, b, c, d, e, LH_W(35), 0x53380d13u);
    LH_ROUND(e, f, g, h, a, b, c, d, LH_W(36), 0x650a7354u);
    LH_ROUND(d, e, f, g, h, a, b, c, LH_W(37), 0x766a0abbu);
    LH_ROUND(c, d, e, f, g, h, a, b, LH_W(38), 0x81c2c92eu);
    LH_ROUND(b, c, d, e, f, g, h, a, LH_W(39), 0x92722c85u);
    LH_ROUND(a, b, c, d, e, f, g, h, LH_W(40), 0xa2bfe8a1u);
    LH_ROUND(h, a, b, c, d, e, f, g, LH_W(41), 0xa81a664bu);
    LH_ROUND(g, h, a, b, c, d, e, f, LH_W(42), 0xc24b8b70u);
    LH_ROUND(f, g, h, a, b, c, d, e, LH_W(43), 0xc76c51a3u);
    LH_ROUND(e, f, g, h, a, b, c, d, LH_W(44), 0xd192e819u);
    LH_ROUND(d, e, f, g, h, a, b, c, LH_W(45), 0xd6990624u);
    LH_ROUND(c, d, e, f, g, h, a, b, LH_W(46), 0xf40e3585u);
    LH_ROUND(b, c, d, e, f, g, h, a, LH_W(47), 0x106aa070u);
    LH_ROUND(a, b, c, d, e, f, g, h, LH_W(48), 0x19a4c116u);
    LH_ROUND(h, a, b, c, d, e, f, g, LH_W(49), 0x1e376c08u);
    LH_ROUND(g, h, a, b, c, d, e, f, LH_W(50), 0x2748774cu);
    LH_ROUND(f, g, h, a, b, c, d, e, LH_W(51), 0x34b0bcb5u);
    LH_ROUND(e, f, g, h, a, b, c, d, LH_W(52), 0x391c0cb3u);
    LH_ROUND(d, e, f, g, h, a, b, c, LH_W(53), 0x4ed8aa4au);
    LH_ROUND(c, d, e, f, g, h, a, b, LH_W(54), 0x5b9cca4fu);
    LH_ROUND(b, c, d, e, f, g, h, a, LH_W(55), 0x682e6ff3u);
    LH_ROUND(a, b, c, d, e, f, g, h, LH_W(56), 0x748f82eeu);
    LH_ROUND(h, a, b, c, d, e, f, g, LH_W(57), 0x78a5636fu);
    LH_ROUND(g, h, a, b, c, d, e, f, LH_W(58), 0x84c87814u);
    LH_ROUND(f, g, h, a, b, c, d, e, LH_W(59), 0x8cc70208u);
    LH_ROUND(e, f, g, h, a, b, c, d, LH_W(60), 0x90befffau);
    LH_ROUND(d, e, f, g, h, a, b, c, LH_W(61), 0xa4506cebu);
    LH_ROUND(c, d, e, f, g, h, a, b, LH_W(62), 0xbef9a3f7u);
    LH_ROUND(b, c, d, e, f, g, h, a, LH_W(63), 0xc67178f2u);
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
    st[4] += e;
    st[5] += f;
    st[6] += g;
    st[7] += h;
}

// Byte `q` of the padded message 0x00 || chunk || 0x80 || 0x00...; the
// bit length in the last 8 bytes is set by the caller.
__device__ __forceinline__ uint32_t lh_msg_byte(const uint8_t* chunk, uint64_t n,
                                                uint64_t q) {
    if (q == 0) {
        return 0x00u;  // the RFC 6962 leaf prefix
    }
    if (q <= n) {
        return chunk[q - 1];
    }
    return q == n + 1 ? 0x80u : 0x00u;
}

// Message word j of block k from two neighbouring little-endian words of the
// chunk: the top byte of `prev` (chunk[64k + 4j - 1], or the 0x00 prefix)
// then the low three bytes of `cur`, most significant first.
__device__ __forceinline__ uint32_t lh_shift_word(uint32_t prev, uint32_t cur) {
    return __byte_perm(prev, cur, 0x3456);
}

extern "C" __global__ void leaf_hashes(const uint8_t* __restrict__ data,
                                       unsigned long long len,
                                       unsigned long long chunk_bytes,
                                       unsigned long long first_chunk,
                                       unsigned long long count,
                                       uint8_t* __restrict__ out) {
    const uint64_t t = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= count || chunk_bytes == 0) {
        return;
    }
    const uint64_t chunks = len / chunk_bytes + (len % chunk_bytes != 0 ? 1 : 0);
    if (first_chunk >= chunks || t >= chunks - first_chunk) {
        return;
    }
    const uint64_t offset = (first_chunk + t) * chunk_bytes;
    const uint64_t rest = len - offset;
    const uint64_t n = rest < chunk_bytes ? rest : chunk_bytes;
    const uint8_t* chunk = data + offset;

    uint32_t st[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                      0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};
    uint32_t w[16];

    // Blocks whose 64 loaded bytes chunk[64k .. 64k + 64) lie inside the
    // chunk: 16-byte loads, when the chunk starts 16-byte aligned.
    uint64_t fast = 0;
    if (((unsigned long long)(const void*)chunk & 15u) == 0) {
        fast = n / 64;
    }
    if (fast > 0) {
        const uint4* p = (const uint4*)chunk;
        uint4 v0 = p[0], v1 = p[1], v2 = p[2], v3 = p[3];
        uint32_t carry = 0;  // its top byte is the 0x00 prefix
        for (uint64_t k = 0; k < fast; ++k) {
            w[0] = lh_shift_word(carry, v0.x);
            w[1] = lh_shift_word(v0.x, v0.y);
            w[2] = lh_shift_word(v0.y, v0.z);
            w[3] = lh_shift_word(v0.z, v0.w);
            w[4] = lh_shift_word(v0.w, v1.x);
            w[5] = lh_shift_word(v1.x, v1.y);
            w[6] = lh_shift_word(v1.y, v1.z);
            w[7] = lh_shift_word(v1.z, v1.w);
            w[8] = lh_shift_word(v1.w, v2.x);
            w[9] = lh_shift_word(v2.x, v2.y);
            w[10] = lh_shift_word(v2.y, v2.z);
            w[11] = lh_shift_word(v2.z, v2.w);
            w[12] = lh_shift_word(v2.w, v3.x);
            w[13] = lh_shift_word(v3.x, v3.y);
            w[14] = lh_shift_word(v3.y, v3.z);
            w[15] = lh_shift_word(v3.z, v3.w);
            carry = v3.w;
            if (k + 1 < fast) {
                // Next block's loads in flight while this one is compressed.
                p += 4;
                v0 = p[0];
                v1 = p[1];
                v2 = p[2];
                v3 = p[3];
            }
            lh_compress(st, w);
        }
    }

    // The remaining blocks, from single bytes: the message's tail with its
    // padding and length (one or two blocks), or the whole chunk when it is
    // not 16-byte aligned. The message 0x00 || chunk is n + 1 bytes; padded,
    // it is floor((n + 1 + 8) / 64) + 1 blocks.
    const uint64_t blocks = (n + 9) / 64 + 1;
    const uint64_t bits = (n + 1) * 8;
    for (uint64_t k = fast; k < blocks; ++k) {
        const uint64_t q = k * 64;
#pragma unroll
        for (int j = 0; j < 16; ++j) {
            const uint64_t b = q + 4 * (uint64_t)j;
            w[j] = (lh_msg_byte(chunk, n, b) << 24) | (lh_msg_byte(chunk, n, b + 1) << 16) |
                   (lh_msg_byte(chunk, n, b + 2) << 8) | lh_msg_byte(chunk, n, b + 3);
        }
        if (k + 1 == blocks) {
            w[14] = (uint32_t)(bits >> 32);
            w[15] = (uint32_t)bits;
        }
        lh_compress(st, w);
    }

    uint8_t* o = out + 32 * t;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        o[4 * i] = (uint8_t)(st[i] >> 24);
        o[4 * i + 1] = (uint8_t)(st[i] >> 16);
        o[4 * i + 2] = (uint8_t)(st[i] >> 8);
        o[4 * i + 3] = (uint8_t)st[i];
    }
}
