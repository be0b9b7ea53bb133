#!/usr/bin/env bash
# Matrix factorisation side by side with the `implicit` package, in one run on one machine:
# same NCF MovieLens-1M split, factors, iterations, regularisation, confidence/learning rate and threads.
# Prints each command, the median fit time of each side, the ratio Rummage / implicit, and both metrics.
#
# Usage: Benchmarks/mf.sh [repeats]   (default 3; needs ../shared/datasets/ncf-ml-1m and PyPI for the peer)
# The peer is installed into a virtualenv outside the repository ($RUMMAGE_BENCH_VENV,
# default ~/.cache/rummage-bench-venv); it never enters Rummage's runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/common.sh
repeats=${1:-3}
require_ncf_data
scripts/install-deps
venv=${RUMMAGE_BENCH_VENV:-$HOME/.cache/rummage-bench-venv}
ensure_venv "$venv" "implicit, threadpoolctl" "implicit==0.7.3" numpy scipy threadpoolctl
swift build -c release --product rummage >/dev/null
rummage=.build/release/rummage
threads=$(nproc)

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); implicit $("$venv/bin/python" -c 'import implicit; print(implicit.__version__)')"

# compare NAME "RUMMAGE COMMAND" "PEER COMMAND": runs each `repeats` times, alternating.
compare() {
  local name=$1 ours=$2 peer=$3
  echo
  echo "== $name"
  echo "\$ $ours"
  echo "\$ $peer"
  local results=()
  for run in $(seq "$repeats"); do
    results+=("ours $($ours | tail -1)")
    results+=("peer $($peer | tail -1)")
  done
  printf '%s\n' "${results[@]}" | python3 -c '
import json, statistics, sys
ours, peer = [], []
for line in sys.stdin:
    side, payload = line.split(" ", 1)
    j = json.loads(payload)
    (ours if side == "ours" else peer).append((j.get("train_seconds", j.get("fit_seconds")), j["hr@10"], j["ndcg@10"]))
for label, runs in (("rummage", ours), ("implicit", peer)):
    times = [r[0] for r in runs]
    print("  %-8s fit median %.3f s (min %.3f, %d runs)  hr@10 %.4f  ndcg@10 %.4f"
          % (label, statistics.median(times), min(times), len(times), runs[-1][1], runs[-1][2]))
ratio = statistics.median([r[0] for r in ours]) / statistics.median([r[0] for r in peer])
print("  fit-time ratio rummage/implicit: %.2f   hr@10 difference %+.4f   ndcg@10 difference %+.4f"
      % (ratio, ours[-1][1] - peer[-1][1], ours[-1][2] - peer[-1][2]))
'
}

compare "iALS: 64 factors, 15 iterations, regularization 0.05, alpha 2, CG 3 steps, $threads threads" \
  "$rummage evaluate --dataset ncf-ml1m:$data --kind ials --threads $threads --json --quiet --set factors=64 --set iterations=15 --set regularization=0.05 --set alpha=2 --set unobserved_weight=0 --set regularization_exponent=0 --set cg_steps=3 --set loss_every=0" \
  "$venv/bin/python Benchmarks/peers/implicit_mf.py --data $data --model ials --threads $threads --factors 64 --iterations 15 --regularization 0.05 --alpha 2"

compare "BPR: 64 factors, 40 epochs, learning rate 0.05, regularization 0.002, $threads threads" \
  "$rummage evaluate --dataset ncf-ml1m:$data --kind bpr --threads $threads --json --quiet --set factors=64 --set epochs=40 --set learning_rate=0.05 --set regularization=0.002" \
  "$venv/bin/python Benchmarks/peers/implicit_mf.py --data $data --model bpr --threads $threads --factors 64 --iterations 40 --learning-rate 0.05 --regularization 0.002"
