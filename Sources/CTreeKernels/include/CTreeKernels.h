#ifndef RUMMAGE_CTREEKERNELS_H
#define RUMMAGE_CTREEKERNELS_H

#include <stddef.h>
#include <stdint.h>

/// Scores rows with a forest of complete binary trees of one depth, without branches on the data.
///
/// Tree `t` has `2^depth - 1` split nodes in heap order (node `i`'s children are `2i+1` and `2i+2`) at
/// `features`, `thresholds` and `default_left` from `t * (2^depth - 1)`, and `2^depth` leaf values at
/// `leaves` from `t * 2^depth`. A row goes left at a node when its value is below the threshold, or is
/// NaN (missing) and the node's `default_left` is 1: XGBoost's rule. `out[r]` is `base` plus the
/// leaves reached, added in tree order in single precision (as XGBoost adds them).
/// `x` is row-major with `columns` values per row; every feature index must be below `columns`.
void rummage_trees_predict(const float *x, size_t rows, size_t columns,
                           const int32_t *features, const float *thresholds, const uint8_t *default_left,
                           const float *leaves, size_t trees, unsigned depth, float base, float *out);

#endif
