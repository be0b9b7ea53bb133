#ifndef RUMMAGE_CVECTORKERNELS_H
#define RUMMAGE_CVECTORKERNELS_H

#include <stddef.h>
#include <stdint.h>

/// Inner-product kernels for the HNSW index, compiled for AVX2 + FMA and for the x86-64 baseline (or
/// plain C elsewhere); the first call picks the widest the CPU supports. Results may differ from a
/// sequential sum in the last bits (the order of additions differs); they are the same on every call
/// on one machine.

/// The dot product of two `d`-float vectors.
float rummage_dot(const float *a, const float *b, size_t d);

/// `out[i] = dot(query, base + nodes[i] * d)` for `i < count`, prefetching the next vectors.
void rummage_dot_nodes(const float *query, const float *base, size_t d, const int32_t *nodes, size_t count, float *out);

/// Brings the `bytes` at `p` towards the cache (a hint; never faults). Inline, so a Swift loop pays no call.
static inline void rummage_prefetch(const void *p, size_t bytes) {
    for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch((const char *)p + b);
}

/// The kernel in use: "avx2+fma" or "baseline".
const char *rummage_kernel_name(void);

#endif
