#ifndef RUMMAGE_CTREEKERNELS_H
#define RUMMAGE_CTREEKERNELS_H

#include <stddef.h>
#include <stdint.h>

/// A split of a complete tree: a row goes left when its value in `column` is below `threshold`.
/// `column` is the feature's index when the split sends missing values (NaN) left, and the feature's
/// index plus the model's feature count when it sends them right (see `rummage_trees_predict`).
typedef struct {
    float threshold;
    int32_t column;
} rummage_tree_split;

/// Scores rows with a forest of complete binary trees of one depth, without branches on the data.
///
/// Tree `t` has `2^depth - 1` splits in heap order (split `i`'s children are `2i+1` and `2i+2`) at
/// `splits + t * (2^depth - 1)`, and `2^depth` leaf values at `leaves + t * 2^depth`. Each row's first
/// `features` values (of its `columns`, row-major in `x`) are first widened to `2 * features`: with NaN
/// read as -infinity, then with NaN read as +infinity, so a split's column alone decides where a missing
/// value goes (XGBoost's default direction) and the walk tests no NaN. `out[r]` is `base` plus the
/// leaves reached, added in tree order in single precision (as XGBoost adds them). Where the CPU has
/// AVX-512 and the trees are at most 6 deep, sixteen rows walk each tree in the lanes of a register;
/// elsewhere eight rows walk it together in scalar code. Both give the same scores, bit for bit.
/// Returns 0, or -1 when the widened rows cannot be allocated.
int rummage_trees_predict(const float *x, size_t rows, size_t columns, size_t features, const rummage_tree_split *splits,
                          const float *leaves, size_t trees, unsigned depth, float base, float *out);

#endif
