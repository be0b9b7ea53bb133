"""Reads the outputs of `rummage bench index` and Benchmarks/peers/faiss_hnsw.py from one run and prints
the comparison Benchmarks/vector_search.sh reports: recall@20 at ef 64 for both; the QPS each side has at
recall@20 = 0.95, interpolated between the two measured widths around it (QPS on a log scale, linear in
recall), so that where the ef grid happens to fall does not decide the ratio; the best measured QPS at
recall >= 0.95 for reference; and the ratio of build times."""
import math
import re
import sys

TARGET = 0.95


def parse(path):
    text = open(path).read()
    build = float(re.search(r"build: ([0-9.]+) s", text).group(1))
    rows = sorted((int(ef), float(recall), int(qps)) for ef, recall, qps in re.findall(r"ef (\d+): recall@20 ([0-9.]+)\s+(\d+) QPS", text))
    return build, rows


def at_target(rows):
    """QPS at recall TARGET, interpolated between the last width below it and the first at or above it."""
    for (ef0, r0, q0), (ef1, r1, q1) in zip(rows, rows[1:]):
        if r0 < TARGET <= r1:
            t = (TARGET - r0) / (r1 - r0)
            return math.exp(math.log(q0) + t * (math.log(q1) - math.log(q0)))
    return rows[0][2] if rows and rows[0][1] >= TARGET else None


def best(rows):
    meeting = [(qps, ef, recall) for ef, recall, qps in rows if recall >= TARGET]
    return max(meeting) if meeting else None


ours, theirs = parse(sys.argv[1]), parse(sys.argv[2])
a, b = ({ef: r for ef, r, _ in rows}.get(64) for _, rows in (ours, theirs))
if a is not None and b is not None:
    print(f"  recall@20 at ef 64: rummage {a:.4f}, faiss {b:.4f} (difference {a - b:+.4f})")
x, y = at_target(ours[1]), at_target(theirs[1])
if x and y:
    print(f"  QPS at recall@20 = {TARGET} (interpolated): rummage {x:.0f}, faiss {y:.0f}: {x / y:.2f}x faiss")
else:
    print(f"  recall@20 {TARGET} is not bracketed on the ef grid by " + ("rummage" if not x else "faiss") + ": widen the grid")
bx, by = best(ours[1]), best(theirs[1])
if bx and by:
    print(f"  best measured QPS at recall@20 >= {TARGET}: rummage {bx[0]} (ef {bx[1]}, recall {bx[2]:.4f}), "
          f"faiss {by[0]} (ef {by[1]}, recall {by[2]:.4f}): {bx[0] / by[0]:.2f}x faiss")
print(f"  build: rummage {ours[0]:.1f} s, faiss {theirs[0]:.1f} s (2 threads each): {ours[0] / theirs[0]:.2f}x faiss's time")
