#include "CTreeKernels.h"
#include <math.h>
#include <stdlib.h>

/// Eight rows descend one tree together: their paths are independent, so the CPU overlaps them (eight
/// measured fastest on x86-64: fewer leave the CPU waiting, more spill registers).
#define LANES 8

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
    for (size_t t = 0; t < trees; t++) {
        const rummage_tree_split *split = splits + t * inner;
        const float *leaf = leaves + t * width;
        size_t r = 0;
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
