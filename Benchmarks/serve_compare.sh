#!/usr/bin/env bash
# `rummage bench serve` of this tree against the binary of another commit, in one run on one machine:
# rounds alternate before, after, before, after, … on the same prepared catalogue (.rummage/bench-serve),
# and the summary is the ratio of the medians (req/s after / before; p99 after − before).
#
# Usage: Benchmarks/serve_compare.sh [REF] [ROUNDS] [extra `bench serve` options]
#   REF     the commit to compare with (default 678f65c, the last commit before the [9/19] redesign)
#   ROUNDS  pairs of runs (default 5)
#   DURATION (environment) seconds of each measured wrk run (default 10)
#   BEFORE_DIR (environment) when set, the other commit's binary prepares and serves its own catalogue
#     there (its own versions and index, as it shipped) instead of this tree's .rummage/bench-serve
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/common.sh
ref=${1:-678f65c}
rounds=${2:-5}
shift $(( $# > 2 ? 2 : $# ))
scripts/install-deps
if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light >/dev/null
fi
swift build -c release --product rummage >/dev/null
after=.build/release/rummage
# The other commit's binary, built once in a worktree outside the repository.
src=${TMPDIR:-/tmp}/rummage-$ref
if [ ! -x "$src/.build/release/rummage" ]; then
  rm -rf "$src"
  git worktree prune
  git worktree add --detach "$src" "$ref" >/dev/null
  (cd "$src" && swift build -c release --product rummage >/dev/null)
fi
before=$src/.build/release/rummage
options=(--hot-swaps 0 --metrics-rounds 0 --json "$@")
"$after" bench serve "${options[@]}" --duration 1 >/dev/null   # prepares the catalogue once
before_options=()
if [ -n "${BEFORE_DIR:-}" ]; then
  before_options=(--dir "$BEFORE_DIR")
  "$before" bench serve --hot-swaps 0 --metrics-rounds 0 --json "${before_options[@]}" --duration 1 >/dev/null
fi
options+=(--duration "${DURATION:-10}")
results=()
for round in $(seq 1 "$rounds"); do
  for side in before after; do
    if [ "$side" = after ]; then
      line=$("$after" bench serve "${options[@]}" | tail -n 1)
    else
      line=$("$before" bench serve "${options[@]}" "${before_options[@]}" | tail -n 1)
    fi
    echo "round $round $side: $line"
    results+=("$side $line")
  done
done
printf '%s\n' "${results[@]}" | python3 -c '
import json, statistics, sys
runs = {"before": [], "after": []}
for line in sys.stdin:
    side, text = line.split(" ", 1)
    runs[side].append(json.loads(text))
med = {side: {k: statistics.median(r[k] for r in rows) for k in ("rps", "p99_ms", "nginx_rps")} for side, rows in runs.items()}
for side in ("before", "after"):
    width = runs[side][0].get("search_width")
    served = "  served recall@20 %.4f at search width %d" % (runs[side][0]["served_recall"], width) if width else ""
    print("%-6s median %8.0f req/s  p99 %.2f ms  (nginx %8.0f req/s)  req/s of each run: %s%s" % (
        side, med[side]["rps"], med[side]["p99_ms"], med[side]["nginx_rps"], ", ".join("%.0f" % r["rps"] for r in runs[side]), served))
print("ratio after/before: req/s %.3f; p99 %+.2f ms (p99 of each run before: %s; after: %s)" % (
    med["after"]["rps"] / med["before"]["rps"], med["after"]["p99_ms"] - med["before"]["p99_ms"],
    ", ".join("%.2f" % r["p99_ms"] for r in runs["before"]), ", ".join("%.2f" % r["p99_ms"] for r in runs["after"])))
'
echo "command: ${BEFORE_DIR:+BEFORE_DIR=$BEFORE_DIR }Benchmarks/serve_compare.sh $ref $rounds $*"
