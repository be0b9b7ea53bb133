"""Peer for `Benchmarks/mf.sh`: trains the `implicit` package's ALS or BPR on the NCF MovieLens-1M split
and evaluates it with the NCF protocol (test item vs. its 99 listed negatives; candidates collapsed to
first occurrences, ties broken in list order, exactly as Rummage and NCF's evaluate.py do).

Prints one JSON line: {"model", "fit_seconds", "hr@10", "ndcg@10", ...}. Not part of Rummage's runtime.
"""
import argparse
import json
import lzma
import math
import os
import time

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


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", choices=["ials", "bpr"], required=True)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--regularization", type=float, default=0.01)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits
    import implicit

    matrix, tests, negatives = load(args.data)
    with threadpool_limits(1, "blas"):  # implicit's own advice: BLAS single-threaded, its OpenMP loop parallel
        if args.model == "ials":
            model = implicit.cpu.als.AlternatingLeastSquares(
                factors=args.factors, regularization=args.regularization, alpha=args.alpha,
                iterations=args.iterations, num_threads=args.threads, random_state=args.seed,
                calculate_training_loss=False)
        else:
            model = implicit.cpu.bpr.BayesianPersonalizedRanking(
                factors=args.factors, learning_rate=args.learning_rate, regularization=args.regularization,
                iterations=args.iterations, num_threads=args.threads, random_state=args.seed)
        start = time.perf_counter()
        model.fit(matrix, show_progress=False)
        fit_seconds = time.perf_counter() - start
    hr, ndcg = evaluate(model.user_factors, model.item_factors, tests, negatives)
    print(json.dumps({"model": f"implicit-{args.model}", "version": implicit.__version__, "fit_seconds": fit_seconds,
                      "factors": args.factors, "iterations": args.iterations, "threads": args.threads,
                      "hr@10": hr, "ndcg@10": ndcg}))


if __name__ == "__main__":
    main()
