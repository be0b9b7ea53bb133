#!/usr/bin/env bash
# Rummage's HNSW index side by side with faiss-cpu's IndexHNSWFlat, in one run on the same vectors with
# the same M, efConstruction and efSearch values and 2 threads for building and for searching. Prints
# build time, recall@20 against exact search and QPS for both, then the comparison (Benchmarks/compare_ann.py):
# recall at ef 64, each side's QPS at recall@20 = 0.95 interpolated between the widths around it and their
# ratio, the best measured QPS at recall >= 0.95, and the ratio of build times. The VM is noisy: run it a
# few times and read the spread. faiss-cpu goes into a virtualenv outside the repository ($RUMMAGE_FAISS_VENV,
# default ~/.cache/rummage-faiss-venv).
#
# Usage:
#   Benchmarks/vector_search.sh [n] [m] [efs]
#       synthetic: n clustered unit vectors of width 64 and 2,000 queries (defaults 100000, 16,
#       16,24,32,40,48,64).
#   Benchmarks/vector_search.sh --real [VERSION_DIR] [m] [efs]
#       real embeddings: a registered version's item embeddings as the base and 2,000 of its user
#       embeddings as queries (efs default 32,64,96,112,128,144,160,192,256). Without VERSION_DIR, the
#       two-tower model of [11/19] (Benchmarks/real_embeddings.json: 20,000 users, 110,000 listings,
#       600,000 events, generator seed 3; content, id_dropout 0.5, 8 epochs, seed 42, 2 threads) is
#       trained once by `rummage pipeline run` into .rummage/bench-vectors (about a minute) and reused.
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/common.sh
real=""
if [ "${1:-}" = "--real" ]; then
  shift
  real=.rummage/bench-vectors/registry/real-embeddings/versions/1
  if [ -n "${1:-}" ] && [ -d "$1" ]; then real=$1; shift; fi
  m=${1:-16}
  efs=${2:-32,64,96,112,128,144,160,192,256}
else
  n=${1:-100000}
  m=${2:-16}
  efs=${3:-16,24,32,40,48,64}
fi
scripts/install-deps
venv=${RUMMAGE_FAISS_VENV:-$HOME/.cache/rummage-faiss-venv}
ensure_venv "$venv" "faiss, numpy" faiss-cpu numpy
swift build -c release --product rummage >/dev/null
if [ "$real" = .rummage/bench-vectors/registry/real-embeddings/versions/1 ] && [ ! -f "$real/manifest.json" ]; then
  echo "training the [11/19] two-tower model once: rummage pipeline run --pipeline Benchmarks/real_embeddings.json" >&2
  rm -rf .rummage/bench-vectors
  .build/release/rummage pipeline run --pipeline Benchmarks/real_embeddings.json --quiet || [ $? -eq 3 ]
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); faiss $("$venv/bin/python" -c 'import faiss; print(faiss.__version__)')"
echo "== rummage"
if [ -n "$real" ]; then
  .build/release/rummage bench index --real "$real" --m "$m" --queries 2000 --ef "$efs" --threads 2 --write "$work" 2>/dev/null | tee "$work/rummage.txt"
else
  .build/release/rummage bench index --n "$n" --m "$m" --queries 2000 --ef "$efs" --threads 2 --write "$work" 2>/dev/null | tee "$work/rummage.txt"
fi
echo "== faiss-cpu"
echo "\$ $venv/bin/python Benchmarks/peers/faiss_hnsw.py --dir DIR --m $m --ef $efs --threads 2"
"$venv/bin/python" Benchmarks/peers/faiss_hnsw.py --dir "$work" --m "$m" --ef "$efs" --threads 2 | tee "$work/faiss.txt"
echo "== comparison"
python3 Benchmarks/compare_ann.py "$work/rummage.txt" "$work/faiss.txt"
