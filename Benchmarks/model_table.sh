#!/usr/bin/env bash
# Every model with its default settings (chosen by `rummage tune` on validation data carved from the NCF
# training part; docs/evaluation.md) on two MovieLens-1M splits (issue [18/19]):
#   ncf-ml1m     NCF's leave-one-out split, 1 + 99 sampled (HR@10, NDCG@10);
#   ml1m-random  the shared ratings 80/20 at random per user, seeded, full ranking (Recall@20, NDCG@20).
# Skips with a reason when ../shared/datasets is absent (MovieLens may not be redistributed).
#
# Usage: Benchmarks/model_table.sh [MODELS...]   (default: every model but random)
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/common.sh
shared=../shared/datasets
[ -d "$shared/ncf-ml-1m" ] && [ -d "$shared/movielens-1m" ] || { echo "skipping: $shared/ncf-ml-1m or $shared/movielens-1m is not present"; exit 0; }
models=(${@:-toppop itemknn ease graph-filter ials bpr two-tower})
swift build -c release --product rummage > /tmp/model_table.build 2>&1 || { tail -n 30 /tmp/model_table.build; exit 1; }
mkdir -p .rummage/model-table
rummage=.rummage/model-table/rummage
cp .build/release/rummage "$rummage"   # its own copy: a rebuild during the run changes nothing
echo "# Benchmarks/model_table.sh ${models[*]} on $(nproc) cores, $(git rev-parse --short HEAD)"
printf "| %-12s | %-9s | %-9s | %-10s | %-10s | %-10s |\n" model "HR@10" "NDCG@10" "Recall@20" "NDCG@20" "train s"
printf "|%s|%s|%s|%s|%s|%s|\n" -------------- ----------- ----------- ------------ ------------ ------------
for model in "${models[@]}"; do
  ncf=$("$rummage" evaluate --dataset "ncf-ml1m:$shared/ncf-ml-1m" --kind "$model" --json --quiet | tail -n 1)
  random=$("$rummage" evaluate --dataset "ml1m-random:$shared/movielens-1m" --kind "$model" --json --quiet | tail -n 1)
  python3 - "$model" "$ncf" "$random" <<'PY'
import json, sys
model, ncf, random = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
seconds = f"{ncf['train_seconds']:.1f} / {random['train_seconds']:.1f}"
print(f"| {model:12s} | {ncf['hr@10']:.4f}    | {ncf['ndcg@10']:.4f}    | {random['recall@20']:.4f}     | {random['ndcg@20']:.4f}     | {seconds:10s} |")
PY
done
