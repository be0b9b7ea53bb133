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
# Usage: Benchmarks/ope_truth.sh [USERS] [SESSIONS]   (defaults 4000 5; about 15 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/common.sh
users=${1:-4000} sessions=${2:-5}
swift build -c release --product rummage > /tmp/ope_truth.build 2>&1 || { tail -n 30 /tmp/ope_truth.build; exit 1; }
work=.rummage/ope-truth
rm -rf "$work" && mkdir -p "$work"
cp .build/release/rummage "$work/rummage"   # its own copy: a rebuild during the run changes nothing
rummage=$PWD/$work/rummage
data=$work/marketplace log=$work/events.sqlite registry=$work/registry
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; true' EXIT
port=$(free_port)
echo "# Benchmarks/ope_truth.sh $users $sessions on $(nproc) cores, $(git rev-parse --short HEAD)"

echo "== 1. marketplace (3,000 users, 6,000 listings, 120,000 events), log, retrieval model"
marketplace_world 3000 6000 120000 11

echo "== 2. impressions for the ranker (3,000 users × 5 sessions, 20 % on fully explored lists), the home ranker"
cat > "$work/collect.yaml" <<'YAML'
home: {retrieval: personalised, candidates: 300, log_impressions: true, exploration_share: 0.1}
home-random: {retrieval: personalised, candidates: 40, exploration_share: 1, exploration_temperature: 1000}
YAML
serve "$work/collect.yaml" --experiment collect --experiment-surface home --split home=80,home-random=20
(users=3000 sessions=5 simulate collect 1 --control home > /dev/null)
stop
"$rummage" ranker train --log "$log" --registry "$registry" --surface home --model home-ranker > "$work/ranker.out" 2>&1 \
  || { tail -n 20 "$work/ranker.out"; exit 1; }
grep -E "held-out" "$work/ranker.out" | sed 's/^/   /'
cp "$log" "$work/base.sqlite"

echo "== 3. (a) fully explored lists, $users users × $sessions sessions; the off-policy estimates from their log"
cat > "$work/explore.yaml" <<'YAML'
home: {retrieval: personalised, candidates: 40, exploration_share: 1, exploration_temperature: 1000000, log_impressions: true}
YAML
start=$(date +%s)
serve "$work/explore.yaml"
simulate explore 7 > /dev/null
stop
"$rummage" ope ranker --log "$log" --registry "$registry" --surface home --model home-ranker --from "$start" --quiet --json > "$work/ope.out"
head -n -1 "$work/ope.out" | sed 's/^/   /'
tail -n 1 "$work/ope.out" > "$work/ope.json"

for policy in ranked retrieval; do
  echo "== 3. ($([ $policy = ranked ] && echo b || echo c)) online: $policy order of the 40 candidates, the same users"
  cp "$work/base.sqlite" "$log"
  if [ $policy = ranked ]; then
    echo 'home: {retrieval: personalised, candidates: 40, ranker: home-ranker}' > "$work/$policy.yaml"
  else
    echo 'home: {retrieval: personalised, candidates: 40}' > "$work/$policy.yaml"
  fi
  serve "$work/$policy.yaml"
  simulate "online-$policy" 7 > /dev/null
  stop
done

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
ope = json.load(open(f"{work}/ope.json"))
def online(name):
    variants = json.load(open(f"{work}/online-{name}.json"))["variants"]
    (v,) = variants.values()
    return v["ctr"], v["ctr_standard_error"], v["shown"]
print(f"{ope['lists']} explored lists; effective sample size {ope['candidateEstimates']['effectiveSampleSize']:.0f}")
for name, key in (("ranked", "candidateEstimates"), ("retrieval", "baselineEstimates")):
    ctr, se, shown = online(name)
    e = ope[key]
    parts = []
    for label, field in (("IPS", "ips"), ("SNIPS", "snips"), ("DR", "doublyRobust")):
        est = e[field]
        parts.append(f"{label} {est['value']:.4f} ± {1.96 * est['standardError']:.4f} ({(est['value'] - ctr) / ctr * 100:+.1f} %)")
    print(f"{name:9s} online CTR {ctr:.4f} ± {1.96 * se:.4f} over {shown} listings shown; off-policy " + "; ".join(parts))
d = ope["uplift"]["doublyRobust"]
(r, _, _), (b, _, _) = online("ranked"), online("retrieval")
print(f"uplift: online {r - b:+.4f}; off-policy DR {d['value']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]")
PY
