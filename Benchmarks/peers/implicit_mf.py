"""Peer for `Benchmarks/mf.sh`: trains the `implicit` package's ALS or BPR on the NCF MovieLens-1M split
and evaluates it with the NCF protocol (test item vs. its 99 listed negatives; candidates collapsed to
first occurrences, ties broken in list order, exactly as Rummage and NCF's evaluate.py do).

Prints one JSON line: {"model", "fit_seconds", "hr@10", "ndcg@10", ...}. Not part of Rummage's runtime.
"""
import argparse
import json
import os
import time

from ncf import evaluate, load


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
