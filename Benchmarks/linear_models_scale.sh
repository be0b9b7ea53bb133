#!/usr/bin/env bash
# EASE and the graph filter at Gowalla's size (issue [18/19]): a seeded interaction matrix of 29,858 users ×
# 40,981 items with 1,027,370 interactions (Gowalla's counts in the LightGCN split; item popularity
# Zipf-like, 80/20 per user in the LightGCN format; no data download), then `rummage evaluate` of each
# model on it: training time and peak memory as the models print them (bars: EASE within 15 minutes in
# 24 GiB, the graph filter within 2 minutes, on 2 cores).
#
# Usage: Benchmarks/linear_models_scale.sh [MODELS...]   (default: graph-filter ease)
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/common.sh
models=("${@:-graph-filter ease}")
swift build -c release --product rummage > /tmp/linear_models_scale.build 2>&1 || { tail -n 30 /tmp/linear_models_scale.build; exit 1; }
work=.rummage/linear-models-scale
mkdir -p "$work"
cp .build/release/rummage "$work/rummage"   # its own copy: a rebuild during the run changes nothing
echo "# Benchmarks/linear_models_scale.sh ${models[*]} on $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(git rev-parse --short HEAD)"
if [ ! -f "$work/data/train.txt" ]; then
  python3 - "$work/data" <<'PY'
import os, random, sys
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
users, items, interactions = 29_858, 40_981, 1_027_370
rng = random.Random(2026)
weights = [1 / (i + 10) ** 0.8 for i in range(items)]
cumulative, total = [], 0.0
for w in weights:
    total += w
    cumulative.append(total)
import bisect
per_user = interactions // users
with open(f"{out}/train.txt", "w") as train, open(f"{out}/test.txt", "w") as test:
    for u in range(users):
        count = max(10, min(items // 4, int(rng.expovariate(1 / per_user))))
        chosen = set()
        while len(chosen) < count:
            chosen.add(bisect.bisect_left(cumulative, rng.random() * total))
        chosen = list(chosen)
        rng.shuffle(chosen)
        cut = max(1, len(chosen) // 5)
        test.write(" ".join(map(str, [u] + sorted(chosen[:cut]))) + "\n")
        train.write(" ".join(map(str, [u] + sorted(chosen[cut:]))) + "\n")
PY
fi
for model in ${models[*]}; do
  echo "== $model"
  "$work/rummage" evaluate --dataset "lightgcn:$work/data" --kind "$model" 2>&1 | grep -E "^(loaded|ease:|graph-filter:|trained|evaluated)|on lightgcn" \
    | sed -E 's/(recall@20=[0-9.]+ ndcg@20=[0-9.]+).*/\1/' | sed 's/^/   /'
done
