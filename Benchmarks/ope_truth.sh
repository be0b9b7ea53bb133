#!/usr/bin/env bash
# Does off-policy evaluation predict a ranker's online CTR? (issue [17/19])
#
# On a generated marketplace whose users act on known tastes (the traffic simulator): a learned ranker is
# trained from logged impressions; then, from the same starting log,
#   (a) the surface serves fully explored lists (40 candidates, every slot drawn uniformly, candidates
#       logged) to USERS simulated users × SESSIONS sessions, and `rummage ope ranker` estimates from that
#       log the CTR of the ranker and of retrieval's order on the same 40 candidates;
#   (b) the surface serves the ranker's order of the 40 candidates to the same users (same seed), and
#   (c) retrieval's order of them: the simulator counts their CTR (views per listing shown).
# Prints each estimate against the online CTR, as a relative error (bar: within 10 %).
#
# Usage: Benchmarks/ope_truth.sh [USERS] [SESSIONS] [RUNS]   (defaults 1500 1 8; about 15 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/common.sh
users=${1:-1500} sessions=${2:-1} runs=${3:-8}
workspace ope-truth
echo "# Benchmarks/ope_truth.sh $users $sessions $runs on $(nproc) cores, $(git rev-parse --short HEAD)"

ranker_world

echo "== 3. $runs runs, each from the same log and with its own seed: (a) explored, (b) ranked, (c) retrieval's order"
cat > "$work/explore.yaml" <<'YAML'
home: {retrieval: personalised, candidates: 40, exploration_share: 1, exploration_temperature: 1000000, log_impressions: true}
YAML
echo 'home: {retrieval: personalised, candidates: 40, ranker: home-ranker}' > "$work/ranked.yaml"
echo 'home: {retrieval: personalised, candidates: 40}' > "$work/retrieval.yaml"
for run in $(seq 1 "$runs"); do
  for policy in explore ranked retrieval; do
    cp "$work/base.sqlite" "$log"
    start=$(date +%s)
    serve "$work/$policy.yaml"
    simulate "$policy-$run" "$((100 + run))" > /dev/null
    stop
    if [ $policy = explore ]; then
      "$rummage" ope ranker --log "$log" --registry "$registry" --surface home --model home-ranker --from "$start" --quiet --json > "$work/ope.out"
      tail -n 1 "$work/ope.out" > "$work/ope-$run.json"
    fi
  done
  echo "   run $run: $(head -n 2 "$work/ope.out" | tail -n 1)"
done

python3 - "$work" "$runs" <<'PY'
import json, math, sys
work, runs = sys.argv[1], int(sys.argv[2])
def pooled(values):  # (value, standard error) per run -> their mean and its standard error
    return sum(v for v, _ in values) / len(values), math.sqrt(sum(se * se for _, se in values)) / len(values)
opes = [json.load(open(f"{work}/ope-{r}.json")) for r in range(1, runs + 1)]
def online(policy):
    rows = []
    for r in range(1, runs + 1):
        (v,) = json.load(open(f"{work}/{policy}-{r}.json"))["variants"].values()
        rows.append((v["ctr"], v["ctr_standard_error"]))
    return pooled(rows)
lists = sum(o["lists"] for o in opes)
size = sum(o["candidateEstimates"]["effectiveSampleSize"] for o in opes)
print(f"{lists} explored lists over {runs} runs; effective sample size {size:.0f}")
worst = 0
for name, key in (("ranked", "candidateEstimates"), ("retrieval", "baselineEstimates")):
    ctr, se = online(name)
    parts = []
    for label, field in (("IPS", "ips"), ("SNIPS", "snips"), ("DR", "doublyRobust")):
        value, error = pooled([(o[key][field]["value"], o[key][field]["standardError"]) for o in opes])
        if field == "doublyRobust":
            worst = max(worst, abs(value - ctr) / ctr)
        parts.append(f"{label} {value:.4f} ± {1.96 * error:.4f} ({(value - ctr) / ctr * 100:+.1f} %)")
    print(f"{name:9s} online CTR {ctr:.4f} ± {1.96 * se:.4f}; off-policy " + "; ".join(parts))
uplift, error = pooled([(o["uplift"]["doublyRobust"]["value"], o["uplift"]["doublyRobust"]["standardError"]) for o in opes])
(r, rs), (b, bs) = online("ranked"), online("retrieval")
print(f"uplift: online {r - b:+.4f} ± {1.96 * math.hypot(rs, bs):.4f}; off-policy DR {uplift:+.4f} ± {1.96 * error:.4f}")
print(f"largest relative error of the doubly robust CTR estimates: {worst * 100:.1f} % (bar: within 10 %): {'met' if worst <= 0.10 else 'not met'}")
PY
