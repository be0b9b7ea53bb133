#include "CTreeKernels.h"

/// Eight rows descend one tree together: their paths are independent, so the CPU overlaps them.
#define LANES 8

void rummage_trees_predict(const float *x, size_t rows, size_t columns,
                           const int32_t *features, const float *thresholds, const uint8_t *default_left,
                           const float *leaves, size_t trees, unsigned depth, float base, float *out) {
    const size_t splits = ((size_t)1 << depth) - 1, width = (size_t)1 << depth;
    for (size_t r = 0; r < rows; r++) out[r] = base;
    for (size_t t = 0; t < trees; t++) {
        const int32_t *f = features + t * splits;
        const float *th = thresholds + t * splits, *leaf = leaves + t * width;
        const uint8_t *dl = default_left + t * splits;
        size_t r = 0;
        for (; r + LANES <= rows; r += LANES) {
            size_t node[LANES] = {0};
            for (unsigned level = 0; level < depth; level++) {
                for (int k = 0; k < LANES; k++) {
                    const size_t i = node[k];
                    const float v = x[(r + k) * columns + (size_t)f[i]];
                    const size_t right = (size_t)(!(v < th[i])) ^ ((size_t)(v != v) & dl[i]);
                    node[k] = 2 * i + 1 + right;
                }
            }
            for (int k = 0; k < LANES; k++) out[r + k] += leaf[node[k] - splits];
        }
        for (; r < rows; r++) {
            size_t i = 0;
            for (unsigned level = 0; level < depth; level++) {
                const float v = x[r * columns + (size_t)f[i]];
                i = 2 * i + 1 + ((size_t)(!(v < th[i])) ^ ((size_t)(v != v) & dl[i]));
            }
            out[r] += leaf[i - splits];
        }
    }
}
