"""Reads the outputs of `rummage bench index` and Benchmarks/peers/faiss_hnsw.py from one run and prints
the comparison Benchmarks/vector_search.sh reports: recall@20 at ef 64 for both, the best QPS each side
reaches at recall@20 >= 0.95 and its ratio, and the ratio of build times."""
import re
import sys


def parse(path):
    text = open(path).read()
    build = float(re.search(r"build: ([0-9.]+) s", text).group(1))
    rows = {int(ef): (float(recall), int(qps)) for ef, recall, qps in re.findall(r"ef (\d+): recall@20 ([0-9.]+)\s+(\d+) QPS", text)}
    return build, rows


def best(rows, target=0.95):
    meeting = [(qps, ef, recall) for ef, (recall, qps) in rows.items() if recall >= target]
    return max(meeting) if meeting else None


ours, theirs = parse(sys.argv[1]), parse(sys.argv[2])
if 64 in ours[1] and 64 in theirs[1]:
    a, b = ours[1][64][0], theirs[1][64][0]
    print(f"  recall@20 at ef 64: rummage {a:.4f}, faiss {b:.4f} (difference {a - b:+.4f})")
x, y = best(ours[1]), best(theirs[1])
if x and y:
    print(f"  best QPS at recall@20 >= 0.95: rummage {x[0]} (ef {x[1]}, recall {x[2]:.4f}), faiss {y[0]} (ef {y[1]}, recall {y[2]:.4f}): "
          f"{x[0] / y[0]:.2f}x faiss")
else:
    print("  recall@20 >= 0.95 not reached on the ef grid by " + ("rummage" if not x else "faiss") + ": widen the grid")
print(f"  build: rummage {ours[0]:.1f} s, faiss {theirs[0]:.1f} s (2 threads each): {ours[0] / theirs[0]:.2f}x faiss's time")
