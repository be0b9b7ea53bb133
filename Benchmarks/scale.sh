#!/usr/bin/env bash
# Marketplace scale (issue [19/19]; up to an hour at the defaults, not in CI). One generated marketplace of
# LISTINGS listings, USERS users and about EVENTS events:
#   1. `rummage generate`, then `rummage ingest` of its event stream into a SQLite log (the real ingest path);
#   2. `rummage pipeline run`: the two-tower model trained on the log (2 threads), evaluated, its HNSW index
#      built (on the same threads) with the search width chosen for recall@20 >= 0.95, registered as champion;
#   3. one replica (`rummage serve`, 2 threads, in-memory stores) under wrk, GET recommendations k=20 for
#      random users, with nginx `return 200` under the same wrk load in the same run; the replica's resident
#      memory once ready and the index's recall@20 against exact search as loaded (its /metrics);
#   4. the same with PostgreSQL as the log and Redis as the online store (both started here on loopback and
#      removed at exit): ingest into PostgreSQL, `rummage online rebuild` into Redis, the replica under wrk.
# Every step prints its wall time and peak memory (GNU time).
#
# Usage: Benchmarks/scale.sh [listings] [users] [events] [seconds of each wrk run]
#        (default 1100000 1000000 10000000 20; about 9 % of listings end sold)
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/common.sh
scripts/install-deps
command -v wrk >/dev/null && command -v nginx >/dev/null && [ -x /usr/bin/time ] ||
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light time >/dev/null; }
listings=${1:-1100000} users=${2:-1000000} events=${3:-10000000} seconds=${4:-20}
workspace scale
abs=$PWD/$work  # PostgreSQL and nginx need absolute paths
chmod 755 "$work" && chown postgres:postgres "$work"
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
pg_port=$(free_port) redis_port=$(free_port) nginx_port=$(free_port)
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null
  nginx -p "$abs/nginx" -c nginx.conf -s stop 2>/dev/null
  redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1
  as_postgres "$pg_bin/pg_ctl" -D "$abs/pg" -m fast stop >/dev/null 2>&1
  true
}
trap cleanup EXIT

# measure NAME COMMAND...: runs it under GNU time; prints its wall time and peak resident memory.
measure() {
  local name=$1
  shift
  /usr/bin/time -f "%e %M" -o "$work/$name.time" "$@"
  read -r wall kb < "$work/$name.time"
  printf '   %-34s %9.1f s   peak %7d MiB\n' "$name" "$wall" "$((kb / 1024))"
}
seconds_of() { cut -d' ' -f1 "$work/$1.time"; }
per_second() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }

echo "# Benchmarks/scale.sh $listings $users $events $seconds on $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(git rev-parse --short HEAD)"
echo "== 1. marketplace and ingest"
measure generate "$rummage" generate --out "$data" --users "$users" --items "$listings" --events "$events" --seed 1 --jsonl --quiet
lines=$(wc -l < "$data/events.jsonl")
measure "ingest (SQLite log)" "$rummage" ingest --from "$data/events.jsonl" --log "$log" --schema examples/schemas/secondhand-fashion.json --quiet
echo "   $lines events: $(per_second "$lines" "$(seconds_of "ingest (SQLite log)")") events/s"

echo "== 2. training, evaluation and index (pipeline)"
cat > "$work/pipeline.json" <<EOF
{"model": "scale", "registry": "$registry",
 "data": {"log": "$log", "schema": "examples/schemas/secondhand-fashion.json", "window_days": 365},
 "train": {"kind": "two-tower", "settings": {"content": "true", "id_dropout": "0.5", "epochs": "4"}, "seed": 42, "threads": 2},
 "gate": {"absolute": {}, "relative": {}}, "alias": "champion"}
EOF
measure pipeline bash -c '"$0" pipeline run --pipeline "$1" > "$2" 2> "$3"' "$rummage" "$work/pipeline.json" "$work/pipeline.out" "$work/pipeline.log"
grep -E "train|epoch|index|recall@20" "$work/pipeline.log" | tail -n 6 | sed 's/^/   /'
version_dir=$(ls -d "$registry/scale/versions/"* | sort -V | tail -1)
for f in model.rmg user_embeddings.rmg item_embeddings.rmg index.rmg; do
  printf '   %-22s %7d MiB\n' "$f" "$(($(stat -c %s "$version_dir/$f") / 1048576))"
done

# replica NAME [ARGS...]: a replica of the champion under wrk, then its figures.
key=$("$rummage" keys create --name bench --scopes recommend,metrics --append "$work/keys" | head -n 1 | tr -d ' ')
cat > "$work/recommend.lua" <<EOF
wrk.headers["Authorization"] = "Bearer $key"
math.randomseed(7)
request = function() return wrk.format("GET", "/v1/users/u" .. math.random(0, $users - 1) .. "/recommendations?k=20") end
EOF
wrk_line() {  # wrk_line URL [SCRIPT]: "R req/s, p50 A ms, p99 B ms, N non-2xx"
  wrk -t1 -c8 -d"${seconds}s" --latency ${2:+-s "$2"} "$1" > "$work/wrk.out"
  awk '/Requests\/sec/ {r=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx/ {n=$4}
       END { printf "%.0f req/s, p50 %s, p99 %s, %d non-2xx", r, p50, p99, n }' "$work/wrk.out"
}
replica() {
  local name=$1
  shift
  local port
  port=$(free_port)
  local started=$SECONDS
  "$rummage" serve --registry "$registry" --model scale --port "$port" --threads 2 --poll 0 --api-keys "$work/keys" "$@" \
    > "$work/serve-$name.out" 2> "$work/serve-$name.log" &
  server=$!
  until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do
    kill -0 "$server" 2>/dev/null || { echo "the replica did not start: $(tail -n 5 "$work/serve-$name.log")" >&2; exit 1; }
    sleep 1
  done
  echo "   ready in $((SECONDS - started)) s; resident $(($(awk '/VmRSS/ {print $2}' "/proc/$server/status") / 1024)) MiB"
  echo "   rummage GET recommendations k=20: $(wrk_line "http://127.0.0.1:$port" "$work/recommend.lua")"
  local recall=""
  for _ in $(seq 1 120); do  # the load-time recall is measured in the background
    recall=$(curl -sf -H "Authorization: Bearer $key" "http://127.0.0.1:$port/metrics" |
      awk '/^rummage_index_recall\{.*measured="load"/ {printf "%.4f", $2}')
    [ -n "$recall" ] && break
    sleep 1
  done
  echo "   served index: recall@20 ${recall:-not measured yet} against exact search at search width" \
    "$(curl -sf -H "Authorization: Bearer $key" "http://127.0.0.1:$port/metrics" | awk '/^rummage_index_search_width\{/ {print $2}')"
  echo "   resident after the load: $(($(awk '/VmRSS/ {print $2}' "/proc/$server/status") / 1024)) MiB"
  kill "$server"
  wait "$server" 2>/dev/null || true
  server=""
}

echo "== 3. one replica, in-memory stores"
replica memory --log "$log"
mkdir -p "$work/nginx/logs"
cat > "$work/nginx/nginx.conf" <<EOF
worker_processes 1; daemon on; pid $abs/nginx/nginx.pid; error_log $abs/nginx/error.log;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:$nginx_port; location / { return 200; } } }
EOF
nginx -p "$abs/nginx" -c nginx.conf
echo "   nginx return 200 (same wrk load):  $(wrk_line "http://127.0.0.1:$nginx_port/")"

echo "== 4. PostgreSQL log and Redis online store"
as_postgres "$pg_bin/initdb" -D "$abs/pg" -A trust -U postgres -E UTF8 >/dev/null
as_postgres "$pg_bin/pg_ctl" -D "$abs/pg" -l "$abs/pg.log" -w -o "-p $pg_port -k $abs -c listen_addresses=127.0.0.1" start >/dev/null
"$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres scale
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$abs" --daemonize yes >/dev/null
until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do sleep 0.2; done
pg="postgresql://postgres@127.0.0.1:$pg_port/scale" redis="redis://127.0.0.1:$redis_port"
measure "ingest (PostgreSQL log)" "$rummage" ingest --from "$data/events.jsonl" --log "$pg" --schema examples/schemas/secondhand-fashion.json --quiet
echo "   $lines events: $(per_second "$lines" "$(seconds_of "ingest (PostgreSQL log)")") events/s"
measure "online rebuild (Redis)" "$rummage" online rebuild --log "$pg" --online-store "$redis"
echo "   Redis memory: $(redis-cli -p "$redis_port" info memory | awk -F: '/^used_memory_human/ {print $2}' | tr -d '\r')"
replica shared --log "$pg" --online-store "$redis"
