#!/usr/bin/env bash
# Does `rummage experiment report` pick the truly better variant, and only it? (issue [17/19])
#
# On a generated marketplace whose users act on known tastes (the traffic simulator), the learned ranker is
# truly better than retrieval alone (Benchmarks/ranker_ab.sh measures +41 % CTR at 4,000 users). For each of
# RUNS seeds, on a fresh copy of the same log: an A/B experiment (home against home-ranked) and an A/A
# experiment (home against home-again, the same definition), each with USERS new simulated users of SESSIONS
# sessions, then the report's verdict on CTR. Counts how often A/B names home-ranked the winner and how often
# A/A names any winner (the false-positive rate; 95 % intervals make it about 1 in 20).
#
# Usage: Benchmarks/experiment_truth.sh [RUNS] [USERS] [SESSIONS]   (defaults 20 2000 5; about 30 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/common.sh
runs=${1:-20} users=${2:-2000} sessions=${3:-5}
workspace experiment-truth
echo "# Benchmarks/experiment_truth.sh $runs $users $sessions on $(nproc) cores, $(git rev-parse --short HEAD)"

ranker_world

cat > "$work/truth.yaml" <<'YAML'
home: {retrieval: personalised, candidates: 300}
home-again: {retrieval: personalised, candidates: 300}
home-ranked: {retrieval: personalised, candidates: 300, ranker: home-ranker}
YAML
echo "== 3. $runs seeds: A/B (home against home-ranked) and A/A (home against home-again), $users users × $sessions sessions each"
wins=0 losses=0 aa_calls=0
for seed in $(seq 1 "$runs"); do
  line="   seed $seed:"
  for pair in home-ranked home-again; do
    cp "$work/base.sqlite" "$log"
    name=truth-$pair-$seed
    serve "$work/truth.yaml" --experiment "$name" --experiment-surface home --split "home=50,$pair=50"
    simulate "$name" "$((100 + seed))" > /dev/null
    stop
    "$rummage" experiment report --log "$log" --experiment "$name" --split "home=50,$pair=50" --quiet --json > "$work/$name.report"
    verdict=$(sed -n 's/^verdict: //p' "$work/$name.report")
    line+=" $pair: $verdict;"
    case "$pair:$verdict" in
      home-ranked:"home-ranked beats home"*) wins=$((wins + 1)) ;;
      home-ranked:"home-ranked is worse"*) losses=$((losses + 1)) ;;
      home-again:*beats*|home-again:*"is worse"*) aa_calls=$((aa_calls + 1)) ;;
    esac
  done
  echo "$line"
done
echo "A/B: home-ranked named the winner in $wins of $runs runs, the loser in $losses (bar: at least 19 of 20)"
echo "A/A: a winner named between identical variants in $aa_calls of $runs runs (bar: at most 1 of 20)"
# Are the intervals the right width? Over the A/A runs, the spread of the CTR differences against the
# standard errors the reports gave them.
python3 - "$work" <<'PY'
import glob, json, statistics, sys
differences, errors = [], []
for path in sorted(glob.glob(sys.argv[1] + "/truth-home-again-*.report")):
    report = json.loads(open(path).read().strip().split("\n")[-1])
    c = next(c for c in report["comparisons"] if c["metric"] == "ctr")
    differences.append(c["absolute"])
    errors.append((c["high"] - c["low"]) / (2 * 1.96))
print(f"A/A CTR differences: standard deviation {statistics.stdev(differences):.5f} over {len(differences)} runs; "
      f"mean reported standard error {statistics.mean(errors):.5f}; {sum(d > 0 for d in differences)} of {len(differences)} positive")
PY
