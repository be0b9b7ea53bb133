"""Peer for `Benchmarks/vector_search.sh`: faiss-cpu HNSW on the vectors `rummage bench index --write DIR`
stored (base.f32, queries.f32, their width in `dimension`; inner product). Reports build time, and recall@k against
exact search with QPS at each efSearch, with the given threads. Not part of Rummage's runtime.
"""
import argparse
import time

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--ef", default="16,32,64")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import faiss
    faiss.omp_set_num_threads(args.threads)
    d = int(open(f"{args.dir}/dimension").read())
    base = np.fromfile(f"{args.dir}/base.f32", dtype=np.float32).reshape(-1, d)
    queries = np.fromfile(f"{args.dir}/queries.f32", dtype=np.float32).reshape(-1, d)
    exact = faiss.IndexFlatIP(d)
    exact.add(base)
    _, truth = exact.search(queries, args.k)
    index = faiss.IndexHNSWFlat(d, args.m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = args.ef_construction
    start = time.perf_counter()
    index.add(base)
    print(f"  build: {time.perf_counter() - start:.1f} s for {len(base)} vectors ({args.threads} threads)")
    for ef in [int(e) for e in args.ef.split(",")]:
        index.hnsw.efSearch = ef
        index.search(queries, args.k)  # warm-up
        times = []
        for _ in range(3):
            start = time.perf_counter()
            _, found = index.search(queries, args.k)
            times.append(time.perf_counter() - start)
        elapsed = sorted(times)[1]  # median of 3
        recall = np.mean([len(set(f) & set(t)) / args.k for f, t in zip(found, truth)])
        print(f"  ef {ef}: recall@{args.k} {recall:.4f}  {int(len(queries) / elapsed)} QPS with {args.threads} threads (median of 3 after a warm-up)")


if __name__ == "__main__":
    main()
