#!/usr/bin/env bash
# The learned ranker, online and offline, on the generated marketplace (issue [16/19]):
#   1. generate a marketplace, ingest it, train the retrieval model (the quickstart's pipeline);
#   2. an experiment on `home`: without exploration against `home-explore` (10 % of slots sampled among
#      new listings): the median sessions from a new listing's creation to its first impression in each
#      variant, and the CTR and purchase-rate cost with their 95 % confidence intervals (users as units);
#   3. retrain the retrieval model on the grown log, as a team would before collecting a ranker's data;
#   4. serve `home` (retrieval of 300 candidates, impressions logged, 10 % of slots explored), with 20 % of
#      users in a randomized bucket (`home-random`: 20 of the top 40 in random order), and let the
#      simulated users act on it: the ranker's training data;
#   5. `rummage ranker train` on those impressions: NDCG@20 of the ranker against retrieval's order on
#      held-out randomized lists (where position is independent of both orders), the gain with its interval;
#   6. an experiment on `home`: half the users get retrieval alone (`home`), half retrieval then the
#      ranker (`home-ranked`); new simulated users (another seed) act on it: CTR and purchase rate per
#      variant, the differences with their 95 % confidence intervals.
# Usage: Benchmarks/ranker_ab.sh [USERS_PER_RUN] [SESSIONS]   (defaults 4000 5)
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/common.sh
users=${1:-4000} sessions=${2:-5}
workspace ranker-ab
echo "# Benchmarks/ranker_ab.sh $users $sessions on $(nproc) cores, $(git rev-parse --short HEAD)"

echo "== 1. marketplace (5,000 users, 10,000 listings, 250,000 events), log, retrieval model"
marketplace_world 5000 10000 250000 7

cat > "$work/explore.yaml" <<'YAML'
home: {retrieval: personalised, candidates: 300}
home-explore: {retrieval: personalised, candidates: 300, exploration_share: 0.1, exploration_pool: new, new_within_hours: 24}
YAML
echo "== 2. experiment: home (no exploration) against home-explore (10 % of slots explored among new listings), seed 3"
serve "$work/explore.yaml" --experiment explore-ab --experiment-surface home --split home=50,home-explore=50
simulate explore-ab 3 --control home
stop

echo "== 3. retrain the retrieval model on the grown log (the pipeline again; it is promoted when the gate blesses it)"
"$rummage" pipeline run --pipeline "$work/pipeline.json" --quiet > "$work/pipeline.out" || [ $? -eq 3 ]
head -n 1 "$work/pipeline.out" | sed 's/^/   /'

cat > "$work/collect.yaml" <<'YAML'
home: {retrieval: personalised, candidates: 300, log_impressions: true, exploration_share: 0.1}
home-random: {retrieval: personalised, candidates: 40, exploration_share: 1, exploration_temperature: 1000}
YAML
echo "== 4. collect: home logs its impressions (20 % of users randomized); simulated users (seed 1) act on it"
serve "$work/collect.yaml" --experiment collect --experiment-surface home --split home=80,home-random=20
simulate collect 1 --control home
stop

echo "== 5. train the home ranker on the logged impressions"
"$rummage" ranker train --log "$log" --registry "$registry" --surface home --model home-ranker > "$work/ranker.out" 2>&1 \
  || { tail -n 20 "$work/ranker.out"; exit 1; }
grep -E "ranker:|blessed" "$work/ranker.out" | sed 's/^/   /'

cat > "$work/ab.yaml" <<'YAML'
home: {retrieval: personalised, candidates: 300}
home-ranked: {retrieval: personalised, candidates: 300, ranker: home-ranker}
YAML
echo "== 6. experiment: home (retrieval alone) against home-ranked (retrieval → ranker), new users (seed 2)"
serve "$work/ab.yaml" --experiment ranker-ab --experiment-surface home --split home=50,home-ranked=50
simulate ranker-ab 2 --control home
stop
