// host_shim.h: what leaf_hash.cu takes from CUDA, for a host C++ compiler.
//
// crates/kernel-host-test compiles the very same leaf_hash.cu with g++ (or
// clang++) as C++, this header force-included (`-include host_shim.h`), so
// the kernel's SHA-256 is checked against seal-crypto on every CI run, on
// machines without a GPU (spec GA-KERN-004). A "launch" is a loop over every
// thread of the grid, one after the other, on the calling thread; the thread
// coordinates are thread-local, so tests may run launches in parallel.
//
// Nothing here is used on a GPU: NVRTC and nvcc never see this file.
#ifndef LEAF_HASH_HOST_SHIM_H
#define LEAF_HASH_HOST_SHIM_H

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#error "host_shim.h is for host compilers only"
#endif

#include <stdint.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
// The kernel reads 16-byte vectors as four little-endian words, as a GPU does.
#error "the host shim needs a little-endian host"
#endif

#define __global__
#define __device__
#define __forceinline__ inline __attribute__((always_inline))

// CUDA's built-in vector type: 16 bytes, 16-byte aligned.
struct alignas(16) uint4 {
    unsigned int x, y, z, w;
};

// CUDA's __byte_perm(x, y, s): byte i of the result is byte s[4i+2 : 4i] of
// the eight bytes y:x (x's bytes are 0..3, y's 4..7); the upper 16 bits of s
// and the top bit of each selector nibble are not used.
static inline unsigned int __byte_perm(unsigned int x, unsigned int y, unsigned int s) {
    const unsigned long long bytes = ((unsigned long long)y << 32) | x;
    unsigned int r = 0;
    for (int i = 0; i < 4; ++i) {
        const unsigned int sel = (s >> (4 * i)) & 7u;
        r |= (unsigned int)((bytes >> (8 * sel)) & 0xffu) << (8 * i);
    }
    return r;
}

struct shim_dim3 {
    unsigned int x, y, z;
};
static thread_local shim_dim3 blockIdx, blockDim, threadIdx, gridDim;

extern "C" void leaf_hashes(const uint8_t* __restrict__ data, unsigned long long len,
                            unsigned long long chunk_bytes, unsigned long long first_chunk,
                            unsigned long long count, uint8_t* __restrict__ out);

// Launches leaf_hashes on a grid of ceil(count / block_dim) blocks of
// block_dim threads, as `leaf_hashes<<<grid, block_dim>>>` would, and returns
// when every thread has finished. Returns 0, or -1 if block_dim is 0 or the
// grid would need more than 2^31 - 1 blocks (CUDA's limit for x).
extern "C" int leaf_hashes_host(const uint8_t* data, unsigned long long len,
                                unsigned long long chunk_bytes,
                                unsigned long long first_chunk, unsigned long long count,
                                uint8_t* out, unsigned int block_dim) {
    if (block_dim == 0) {
        return -1;
    }
    const unsigned long long grid = count / block_dim + (count % block_dim != 0 ? 1 : 0);
    if (grid > 0x7fffffffull) {
        return -1;
    }
    gridDim = shim_dim3{(unsigned int)grid, 1, 1};
    blockDim = shim_dim3{block_dim, 1, 1};
    for (unsigned int b = 0; b < (unsigned int)grid; ++b) {
        for (unsigned int t = 0; t < block_dim; ++t) {
            blockIdx = shim_dim3{b, 0, 0};
            threadIdx = shim_dim3{t, 0, 0};
            leaf_hashes(data, len, chunk_bytes, first_chunk, count, out);
        }
    }
    return 0;
}

#endif
