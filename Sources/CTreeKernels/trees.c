#include "CTreeKernels.h"
#include <math.h>
#include <stdlib.h>

/// Eight rows descend one tree together: their paths are independent, so the CPU overlaps them (eight
/// measured fastest on x86-64: fewer leave the CPU waiting, more spill registers).
#define LANES 8

#if defined(__x86_64__)
#include <immintrin.h>

/// The deepest forest the AVX-512 kernel walks: a level then holds at most 32 splits and a tree 64 leaves,
/// which two or four registers hold.
#define AVX512_MAX_DEPTH 6
#define AVX512_LANES 16

/// Lane k's value `table[position[k]]`, for a table of `count` ≤ 64 entries read from registers by
/// permutation (no memory gather). The table may be read up to 16 entries past `count`.
__attribute__((target("avx512f")))
static inline __m512 pick_ps(const float *table, size_t count, __m512i position) {
    if (count <= 16) return _mm512_permutexvar_ps(position, _mm512_loadu_ps(table));
    const __m512 low = _mm512_permutex2var_ps(_mm512_loadu_ps(table), position, _mm512_loadu_ps(table + 16));
    if (count <= 32) return low;
    const __m512 high = _mm512_permutex2var_ps(_mm512_loadu_ps(table + 32), position, _mm512_loadu_ps(table + 48));
    return _mm512_mask_blend_ps(_mm512_test_epi32_mask(position, _mm512_set1_epi32(32)), low, high);
}

__attribute__((target("avx512f")))
static inline __m512i pick_epi32(const int32_t *table, size_t count, __m512i position) {
    if (count <= 16) return _mm512_permutexvar_epi32(position, _mm512_loadu_si512(table));
    return _mm512_permutex2var_epi32(_mm512_loadu_si512(table), position, _mm512_loadu_si512(table + 16));
}

/// Levels of at most this many splits test every split against all sixteen rows (a load and a masked
/// compare each) rather than gathering each row's value: cheaper for a few splits (measured on an AMD EPYC
/// with 100 trees of depth 6 over 304 rows: 84 µs against 124 µs gathering at every level, and 206 µs
/// for the scalar walk).
#define AVX512_EVERY_SPLIT 8

/// Sixteen rows descend each tree together, one per lane, from a block of the rows transposed (column by
/// column, sixteen values each). At a level of few splits every split is compared with all rows and each
/// lane keeps the answer of the split it is at; at a wider level each lane's threshold and column are
/// picked from registers by permutation (levels are contiguous in heap order) and its value gathered from
/// the block. Rows go outer and trees inner, so each row's sum takes the leaves in tree order, exactly as
/// the scalar walk adds them. Scores the first `rows` rounded down to a multiple of 16; returns how many
/// rows it scored, or 0 when its tables cannot be allocated.
__attribute__((target("avx512f")))
static size_t predict_avx512(const float *widened, size_t rows, size_t wide, const rummage_tree_split *splits, const float *leaves,
                             size_t trees, unsigned depth, float *out) {
    const size_t inner = ((size_t)1 << depth) - 1, width = (size_t)1 << depth, padding = 2 * AVX512_LANES;
    // The splits as two arrays (thresholds; columns as offsets into the block) and the leaves, each
    // padded for reads past its end; and the transposed block.
    float *thresholds = malloc((trees * inner + padding) * sizeof(float)), *padded = malloc((trees * width + padding) * sizeof(float));
    int32_t *offsets = malloc((trees * inner + padding) * sizeof(int32_t));
    float *block = malloc(wide * AVX512_LANES * sizeof(float));
    if (thresholds == NULL || offsets == NULL || padded == NULL || block == NULL) {
        free(thresholds);
        free(offsets);
        free(padded);
        free(block);
        return 0;
    }
    for (size_t i = 0; i < trees * inner + padding; i++) {
        thresholds[i] = i < trees * inner ? splits[i].threshold : 0;
        offsets[i] = i < trees * inner ? splits[i].column * AVX512_LANES : 0;
    }
    for (size_t i = 0; i < trees * width + padding; i++) padded[i] = i < trees * width ? leaves[i] : 0;
    const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), one = _mm512_set1_epi32(1);
    size_t r = 0;
    for (; r + AVX512_LANES <= rows; r += AVX512_LANES) {
        for (size_t k = 0; k < AVX512_LANES; k++)
            for (size_t c = 0; c < wide; c++) block[c * AVX512_LANES + k] = widened[(r + k) * wide + c];
        __m512 sum = _mm512_loadu_ps(out + r);
        for (size_t t = 0; t < trees; t++) {
            __m512i position = _mm512_setzero_si512();
            for (unsigned level = 0; level < depth; level++) {
                const size_t first = t * inner + ((size_t)1 << level) - 1, count = (size_t)1 << level;
                __mmask16 right = 0;
                if (count <= AVX512_EVERY_SPLIT) {
                    for (size_t j = 0; j < count; j++) {
                        const __mmask16 here = _mm512_cmpeq_epi32_mask(position, _mm512_set1_epi32((int32_t)j));
                        const __m512 values = _mm512_loadu_ps(block + offsets[first + j]);
                        right |= _mm512_mask_cmp_ps_mask(here, values, _mm512_set1_ps(thresholds[first + j]), _CMP_NLT_UQ);
                    }
                } else {
                    const __m512 threshold = pick_ps(thresholds + first, count, position);
                    const __m512i at = _mm512_add_epi32(pick_epi32(offsets + first, count, position), lanes);
                    right = _mm512_cmp_ps_mask(_mm512_i32gather_ps(at, block, 4), threshold, _CMP_NLT_UQ);
                }
                position = _mm512_slli_epi32(position, 1);
                position = _mm512_mask_add_epi32(position, right, position, one);
            }
            sum = _mm512_add_ps(sum, pick_ps(padded + t * width, width, position));
        }
        _mm512_storeu_ps(out + r, sum);
    }
    free(thresholds);
    free(offsets);
    free(padded);
    free(block);
    return r;
}

static int use_avx512 = 0;

/// Picks the kernel once, before main.
__attribute__((constructor)) static void pick_tree_kernel(void) {
    __builtin_cpu_init();
    use_avx512 = __builtin_cpu_supports("avx512f");
}
#endif

int rummage_trees_predict(const float *x, size_t rows, size_t columns, size_t features, const rummage_tree_split *splits,
                          const float *leaves, size_t trees, unsigned depth, float base, float *out) {
    const size_t inner = ((size_t)1 << depth) - 1, width = (size_t)1 << depth, wide = 2 * features;
    float *widened = malloc(rows * wide * sizeof(float) + 1);
    if (widened == NULL) return -1;
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < features; c++) {
            const float v = x[r * columns + c];
            widened[r * wide + c] = isnan(v) ? -INFINITY : v;
            widened[r * wide + features + c] = isnan(v) ? INFINITY : v;
        }
        out[r] = base;
    }
    size_t scored = 0;
#if defined(__x86_64__)
    if (use_avx512 && depth >= 1 && depth <= AVX512_MAX_DEPTH && rows >= AVX512_LANES && wide * AVX512_LANES < (1u << 30))
        scored = predict_avx512(widened, rows, wide, splits, leaves, trees, depth, out);
#endif
    for (size_t t = 0; t < trees; t++) {
        const rummage_tree_split *split = splits + t * inner;
        const float *leaf = leaves + t * width;
        size_t r = scored;
        for (; r + LANES <= rows; r += LANES) {
            const float *block = widened + r * wide;
            size_t node[LANES] = {0};
            for (unsigned level = 0; level < depth; level++) {
                for (int k = 0; k < LANES; k++) {
                    const rummage_tree_split s = split[node[k]];
                    node[k] = 2 * node[k] + 1 + (size_t)!(block[k * wide + (size_t)s.column] < s.threshold);
                }
            }
            for (int k = 0; k < LANES; k++) out[r + k] += leaf[node[k] - inner];
        }
        for (; r < rows; r++) {
            size_t i = 0;
            for (unsigned level = 0; level < depth; level++) {
                const rummage_tree_split s = split[i];
                i = 2 * i + 1 + (size_t)!(widened[r * wide + (size_t)s.column] < s.threshold);
            }
            out[r] += leaf[i - inner];
        }
    }
    free(widened);
    return 0;
}
