#!/usr/bin/env bash
# Rummage's HNSW index side by side with faiss-cpu's IndexHNSWFlat, in one run on the same vectors
# (100k clustered unit vectors of width 64 and 2,000 queries by default), the same M, efConstruction
# and efSearch values and the same 2 search threads. Prints build time, recall@20 against exact search
# and QPS for both. faiss-cpu goes into a virtualenv outside the repository ($RUMMAGE_FAISS_VENV,
# default ~/.cache/rummage-faiss-venv).
#
# Usage: Benchmarks/vector_search.sh [n] [m] [efs]   (defaults 100000, 16, 16,24,32,40,48,64). Compare the
# best QPS each side reaches at recall@20 >= 0.95 (a fine ef grid keeps that comparison fair).
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/common.sh
n=${1:-100000}
m=${2:-16}
efs=${3:-16,24,32,40,48,64}
scripts/install-deps
venv=${RUMMAGE_FAISS_VENV:-$HOME/.cache/rummage-faiss-venv}
ensure_venv "$venv" "faiss, numpy" faiss-cpu numpy
swift build -c release --product rummage >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); faiss $("$venv/bin/python" -c 'import faiss; print(faiss.__version__)')"
echo "== rummage"
.build/release/rummage bench index --n "$n" --m "$m" --queries 2000 --ef "$efs" --threads 2 --write "$work" 2>/dev/null
echo "== faiss-cpu"
echo "\$ $venv/bin/python Benchmarks/peers/faiss_hnsw.py --dir DIR --m $m --ef $efs --threads 2"
"$venv/bin/python" Benchmarks/peers/faiss_hnsw.py --dir "$work" --m "$m" --ef "$efs" --threads 2
