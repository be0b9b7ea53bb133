"""NCF MovieLens-1M split loading and the NCF evaluation protocol, shared by the benchmark peers.

The protocol matches Rummage's `SampledRankingProtocol` and NCF's evaluate.py: the test item against
its 99 listed negatives, candidates collapsed to first occurrences, ties broken in list order.
"""
import lzma
import math
import os

import numpy as np
import scipy.sparse as sp


def read_lines(path):
    opener = lzma.open if path.endswith(".xz") else open
    with opener(path, "rt") as f:
        for line in f:
            if line.strip():
                yield line.rstrip("\n").split("\t")


def first_existing(directory, names):
    for name in names:
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    raise SystemExit(f"none of {names} in {directory}")


def load(directory):
    train = [(int(r[0]), int(r[1])) for r in read_lines(first_existing(directory, [
        "ml-1m.train.rating", "ml-1m.train.rating.xz", "ml-1m.train.rating.reconstructed.xz"]))]
    tests = [(int(r[0]), int(r[1])) for r in read_lines(first_existing(directory, ["ml-1m.test.rating"]))]
    negatives = [[int(x) for x in r[1:]] for r in read_lines(first_existing(directory, [
        "ml-1m.test.negative", "ml-1m.test.negative.xz"]))]
    users = max(max(u for u, _ in train), max(u for u, _ in tests)) + 1
    items = max(max(i for _, i in train), max(i for _, i in tests), max(max(n) for n in negatives)) + 1
    rows, cols = zip(*train)
    matrix = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(users, items))
    matrix.data[:] = 1.0  # duplicates (if any) stay binary
    return matrix, tests, negatives


def evaluate(user_factors, item_factors, tests, negatives, k=10):
    hr = ndcg = 0.0
    for (u, positive), negs in zip(tests, negatives):
        candidates = list(dict.fromkeys(negs + [positive]))
        scores = item_factors[candidates] @ user_factors[u]
        position = candidates.index(positive)
        s = scores[position]
        rank = int(np.sum(scores > s) + np.sum(scores[:position] == s))
        if rank < k:
            hr += 1
            ndcg += math.log(2) / math.log(rank + 2)
    return hr / len(tests), ndcg / len(tests)


