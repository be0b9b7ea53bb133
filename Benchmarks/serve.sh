#!/usr/bin/env bash
# The serving API under load: `rummage bench serve` on a 100k-listing catalog, driven by wrk on loopback,
# with nginx `return 200` measured in the same run as the ceiling, then 10 hot swaps during a wrk run.
# wrk and nginx-light come from Debian. The catalog, log and two registered versions are prepared once
# in .rummage/bench-serve (a few minutes) and reused.
#
# Usage: Benchmarks/serve.sh [extra `rummage bench serve` options, e.g. --duration 30 --connections 16]
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/common.sh
scripts/install-deps
if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light >/dev/null
fi
swift build -c release --product rummage >/dev/null
.build/release/rummage bench serve "$@"
