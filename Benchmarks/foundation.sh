#!/usr/bin/env bash
# Foundation benchmarks: synthetic generation at full scale, and evaluation speed on ML-1M.
# Usage: Benchmarks/foundation.sh   (prints each command and its figures; needs ../shared for ML-1M)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/install-deps
swift build -c release --product rummage >/dev/null
rummage=.build/release/rummage
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
cmd="$rummage generate --out $out/mp --users 100000 --items 200000 --events 5000000 --seed 1"
echo "\$ $cmd"
for run in 1 2 3; do
  start=$EPOCHREALTIME
  $cmd --quiet
  end=$EPOCHREALTIME
  python3 -c "print('  run $run: %.2f s' % ($end - $start))"
done

ncf=../shared/datasets/ncf-ml-1m
if [ ! -d "$ncf" ]; then
  echo "skipping ML-1M evaluation timing: $ncf is not present"
  exit 0
fi
for model in toppop itemknn; do
  cmd="$rummage evaluate --dataset ncf-ml1m:$ncf --kind $model --json --quiet"
  echo "\$ $cmd"
  for run in 1 2 3; do
    $cmd | tail -1 | python3 -c '
import json, sys
j = json.load(sys.stdin)
print("  users %d: train %.3f s, evaluate %.3f s, hr@10 %.4f, ndcg@10 %.4f"
      % (j["users"], j["train_seconds"], j["eval_seconds"], j["hr@10"], j["ndcg@10"]))'
  done
done
