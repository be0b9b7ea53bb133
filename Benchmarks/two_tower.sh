#!/usr/bin/env bash
# Two-tower training side by side with PyTorch on CPU, in one run on one machine: the id-only
# architecture of `rummage evaluate --kind two-tower --set content=false` and the same model written in
# PyTorch (Benchmarks/peers/torch_two_tower.py): dimension, temperature, logQ correction, dense Adam
# (every embedding row updated every step, as torch.optim.Adam does; Rummage's default is lazy),
# learning-rate schedule, batch size, epochs and threads are equal. Prints seconds per epoch for both,
# the ratio PyTorch / Rummage, and both models' HR@10 / NDCG@10 on the NCF MovieLens-1M split.
#
# Usage: Benchmarks/two_tower.sh [epochs] [seeds]   (defaults 10 and 3; needs ../shared/datasets/ncf-ml-1m
# and PyPI). Each seed trains both models once, alternating; the summary compares means over seeds,
# because one seed's HR@10 moves by a few thousandths.
# torch goes into a virtualenv outside the repository ($RUMMAGE_TORCH_VENV, default
# ~/.cache/rummage-torch-venv). PyPI has no CPU-only torch wheel for Linux, so this installs the
# default (CUDA-enabled) wheel, several GB, which runs on the CPU here.
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/common.sh
epochs=${1:-10}
seeds=${2:-3}
require_ncf_data
scripts/install-deps
venv=${RUMMAGE_TORCH_VENV:-$HOME/.cache/rummage-torch-venv}
ensure_venv "$venv" "torch, scipy" torch numpy scipy
swift build -c release --product rummage >/dev/null
rummage=.build/release/rummage
threads=2

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); torch $("$venv/bin/python" -c 'import torch; print(torch.__version__)')"
ours="$rummage evaluate --dataset ncf-ml1m:$data --kind two-tower --threads $threads --json --quiet --set content=false --set validation_users=0 --set epochs=$epochs --set dimension=64 --set temperature=0.1 --set batch_size=1024 --set learning_rate=0.01 --set lazy_tables=false"
peer="$venv/bin/python Benchmarks/peers/torch_two_tower.py --data $data --threads $threads --epochs $epochs --dimension 64 --temperature 0.1 --batch-size 1024 --learning-rate 0.01"
echo "\$ $ours --set seed=SEED"
echo "\$ $peer --seed SEED"
results=()
for seed in $(seq 1 "$seeds"); do
  results+=("$($ours --set seed=$seed | tail -1)" "$($peer --seed $seed | tail -1)")
done
python3 Benchmarks/compare_runs.py --epochs "$epochs" --ours rummage --peer pytorch "${results[@]}"
