# Sourced by the benchmark scripts: toolchain on PATH, system packages, and peers in virtualenvs
# outside the repository (peers never enter Rummage's runtime).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"

# Sets `data` to the NCF MovieLens-1M split, or exits 0 with a printed reason when it is absent.
require_ncf_data() {
  data=../shared/datasets/ncf-ml-1m
  if [ ! -d "$data" ]; then
    echo "skipping: $data is not present"
    exit 0
  fi
}

# ensure_venv DIR IMPORTS PACKAGE...: creates DIR with the packages unless `import IMPORTS` already works.
ensure_venv() {
  local venv=$1 imports=$2
  shift 2
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import $imports" 2>/dev/null; then
    echo "installing $* into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "$@"
  fi
}

# A free loopback port.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

# The simulator's loop (ranker_ab.sh, experiment_truth.sh). They use the caller's rummage, registry, log,
# work, data, port, users and sessions; `server` holds the running server's pid.
serve() {  # serve SURFACES_FILE [ARGS...]: starts the server and waits until it answers
  "$rummage" serve --registry "$registry" --model marketplace-two-tower --log "$log" --port "$port" --poll 0 \
    --surfaces "$@" > "$work/serve.out" 2>> "$work/serve.log" &
  server=$!
  for _ in $(seq 1 240); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.5
  done
  echo "the server did not start: $(tail -n 5 "$work/serve.log")" >&2
  exit 1
}
stop() { kill "$server"; wait "$server" 2>/dev/null || true; server=""; }
simulate() {  # simulate NAME SEED [ARGS...]: the report's lines, indented; its JSON line goes to $work/NAME.json
  local name=$1 seed=$2
  shift 2
  "$rummage" simulate --url "http://127.0.0.1:$port" --dataset "synthetic:$data" --users "$users" --sessions "$sessions" \
    --k 20 --seed "$seed" --run-id "$name" --minutes 30 --json "$@" > "$work/$name.out"
  head -n -1 "$work/$name.out" | sed 's/^/   /'
  tail -n 1 "$work/$name.out" > "$work/$name.json"
}


# marketplace_world USERS ITEMS EVENTS SEED: a generated marketplace in $data, ingested into $log, and a
# retrieval model trained and registered by examples/pipeline-from-log.json ($work/pipeline.json).
marketplace_world() {
  "$rummage" generate --out "$data" --users "$1" --items "$2" --events "$3" --seed "$4" --jsonl --quiet
  "$rummage" ingest --from "$data/events.jsonl" --log "$log" --schema examples/schemas/secondhand-fashion.json --quiet
  sed -e "s|\"log\": \"[^\"]*\"|\"log\": \"$log\"|" -e "s|\"registry\": \"[^\"]*\"|\"registry\": \"$registry\"|" \
    examples/pipeline-from-log.json > "$work/pipeline.json"
  "$rummage" pipeline run --pipeline "$work/pipeline.json" --quiet > "$work/pipeline.out" || [ $? -eq 3 ]
  head -n 1 "$work/pipeline.out" | sed 's/^/   /'
}
# workspace NAME: a fresh .rummage/NAME holding its own copy of a release build of rummage ($rummage: a
# rebuild during the run changes nothing), and the variables the helpers above use.
workspace() {
  swift build -c release --product rummage > "/tmp/$1.build" 2>&1 || { tail -n 30 "/tmp/$1.build"; exit 1; }
  work=.rummage/$1
  rm -rf "$work" && mkdir -p "$work"
  cp .build/release/rummage "$work/rummage"
  rummage=$PWD/$work/rummage
  data=$work/marketplace log=$work/events.sqlite registry=$work/registry
  server=""
  trap '[ -n "$server" ] && kill "$server" 2>/dev/null; true' EXIT
  port=$(free_port)
}
# ranker_world: the world of experiment_truth.sh and ope_truth.sh: marketplace_world 3000 6000 120000 11,
# then 3,000 simulated users × 5 sessions (80 % on home, 20 % on fully explored lists) whose impressions
# train the home ranker (home-ranker); the log is kept as $work/base.sqlite.
ranker_world() {
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
}
