#!/usr/bin/env bash
# How much traffic interleaving needs against an A/B split to name the truly better ranking (issue [17/19]).
# Uses the world Benchmarks/experiment_truth.sh built (its marketplace, retrieval model, home ranker and the
# log before its experiments). For each traffic size and seed, on a fresh copy of that log: an A/B split
# (home against home-ranked) and an interleaving experiment (both rankings in every list, team draft), each
# with USERS new simulated users of 5 sessions; counts the runs whose verdict names home-ranked better.
# With MODES="interleave-aa", interleaves home with an identical surface instead and counts the runs that
# name a preference anyway (interleaving's false positives).
#
# Usage: [MODES="split interleave"] Benchmarks/interleaving_power.sh [SEEDS] [SIZES...]
#        (defaults 10 and 100 200 400; about 15 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/common.sh
seeds=${1:-10}
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 200 400)
truth=.rummage/experiment-truth
[ -f "$truth/base.sqlite" ] || { echo "run Benchmarks/experiment_truth.sh first (it builds the world this uses)"; exit 1; }
work=.rummage/interleaving-power
rm -rf "$work" && mkdir -p "$work"
swift build -c release --product rummage > /tmp/interleaving_power.build 2>&1 || { tail -n 30 /tmp/interleaving_power.build; exit 1; }
cp .build/release/rummage "$work/rummage"
rummage=$PWD/$work/rummage data=$truth/marketplace registry=$truth/registry log=$work/events.sqlite sessions=5
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; true' EXIT
port=$(free_port)
echo "# Benchmarks/interleaving_power.sh $seeds ${sizes[*]} on $(nproc) cores, $(git rev-parse --short HEAD)"
cat > "$work/surfaces.yaml" <<'YAML'
home: {retrieval: personalised, candidates: 300}
home-ranked: {retrieval: personalised, candidates: 300, ranker: home-ranker}
home-again: {retrieval: personalised, candidates: 300}
YAML
modes=(${MODES:-split interleave})
for users in "${sizes[@]}"; do
  split_right=0 interleaved_right=0 aa_calls=0
  for seed in $(seq 1 "$seeds"); do
    for mode in "${modes[@]}"; do
      cp "$truth/base.sqlite" "$log"
      name=power-$mode-$users-$seed
      other=home-ranked
      [ "$mode" = interleave-aa ] && other=home-again
      flags=(--experiment "$name" --experiment-surface home --split "home=50,$other=50")
      [ "$mode" != split ] && flags+=(--interleave)
      serve "$work/surfaces.yaml" "${flags[@]}"
      simulate "$name" "$((500 + seed))" > /dev/null
      stop
      verdict=$("$rummage" experiment report --log "$log" --experiment "$name" --control home --quiet | sed -n 's/^verdict: //p')
      case "$mode:$verdict" in
        split:"home-ranked beats home"*) split_right=$((split_right + 1)) ;;
        interleave:"home-ranked is preferred to home"*) interleaved_right=$((interleaved_right + 1)) ;;
        interleave-aa:*"is preferred to"*) aa_calls=$((aa_calls + 1)) ;;
      esac
      echo "   $users users, seed $seed, $mode: $verdict" | cut -c1-200
    done
  done
  line="$users users × $sessions sessions:"
  for mode in "${modes[@]}"; do
    case $mode in
      split) line+=" A/B named home-ranked better in $split_right of $seeds runs;" ;;
      interleave) line+=" interleaving in $interleaved_right of $seeds;" ;;
      interleave-aa) line+=" interleaving identical rankings named a preference in $aa_calls of $seeds;" ;;
    esac
  done
  echo "${line%;}"
done
