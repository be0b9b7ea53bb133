#include "CVectorKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2,fma")))
static float dot_avx2(const float *a, const float *b, size_t d) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= d; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    }
    for (; i + 8 <= d; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    __m256 acc = _mm256_add_ps(acc0, acc1);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    float sum = _mm_cvtss_f32(s);
    for (; i < d; i++) sum += a[i] * b[i];
    return sum;
}

__attribute__((target("avx2,fma")))
static void dot_nodes_avx2(const float *query, const float *base, size_t d, const int32_t *nodes, size_t count, float *out) {
    for (size_t i = 0; i < count; i++) {
        if (i + 1 < count) {
            const char *next = (const char *)(base + (size_t)nodes[i + 1] * d);
            for (size_t b = 0; b < d * sizeof(float); b += 64) _mm_prefetch(next + b, _MM_HINT_T0);
        }
        out[i] = dot_avx2(query, base + (size_t)nodes[i] * d, d);
    }
}
#endif

static float dot_baseline(const float *a, const float *b, size_t d) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= d; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < d; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

static void dot_nodes_baseline(const float *query, const float *base, size_t d, const int32_t *nodes, size_t count, float *out) {
    for (size_t i = 0; i < count; i++) {
        if (i + 1 < count) __builtin_prefetch(base + (size_t)nodes[i + 1] * d);
        out[i] = dot_baseline(query, base + (size_t)nodes[i] * d, d);
    }
}

static int use_avx2 = 0;

/// Picks the kernel once, before main (so every later call only reads the flag).
__attribute__((constructor)) static void pick_kernel(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    use_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
}

float rummage_dot(const float *a, const float *b, size_t d) {
#if defined(__x86_64__)
    if (use_avx2) return dot_avx2(a, b, d);
#endif
    return dot_baseline(a, b, d);
}

void rummage_dot_nodes(const float *query, const float *base, size_t d, const int32_t *nodes, size_t count, float *out) {
#if defined(__x86_64__)
    if (use_avx2) {
        dot_nodes_avx2(query, base, d, nodes, count, out);
        return;
    }
#endif
    dot_nodes_baseline(query, base, d, nodes, count, out);
}

const char *rummage_kernel_name(void) { return use_avx2 ? "avx2+fma" : "baseline"; }
