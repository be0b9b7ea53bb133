#!/usr/bin/env bash
# The figures behind docs/scaling.md, on real engines started here on loopback (PostgreSQL, Redis, RabbitMQ;
# each in a temporary directory, stopped and removed at exit), for one generated marketplace:
#   1. ingest into the PostgreSQL event log;
#   2. the RabbitMQ path: `rummage publish` into a queue, `rummage ingest --from amqp://…` into a second
#      PostgreSQL log while updating the Redis online store;
#   3. `rummage online rebuild` of the Redis online store from the log;
#   4. Redis memory: the whole store, then what each kind of key holds (measured by dropping them in turn);
#   5. with `--serve`: `rummage bench serve` with and without the Redis online store in one run.
#
# Usage: Benchmarks/scale_out.sh [events] [--serve]   (default 1000000 interactions)
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/common.sh
scripts/install-deps
events=${1:-1000000}
serve=${2:-}
swift build -c release --product rummage >/dev/null
rummage=$PWD/.build/release/rummage
work=$(mktemp -d)
chown postgres:postgres "$work"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pg_port=$(free_port); redis_port=$(free_port); amqp_port=$(free_port)
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
node="rummage-bench-$amqp_port@localhost"
cleanup() {
  as_postgres "$bin/pg_ctl" -D "$work/data" -m fast stop >/dev/null 2>&1 || true
  redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
  pkill -KILL -f "$work/rabbitmq" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

as_postgres "$bin/initdb" -D "$work/data" -A trust -U postgres -E UTF8 >/dev/null
as_postgres "$bin/pg_ctl" -D "$work/data" -l "$work/pg.log" -w -o "-p $pg_port -k $work -c listen_addresses=127.0.0.1" start >/dev/null
"$bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres queued
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" --daemonize yes >/dev/null
mkdir -p "$work/rabbitmq" && echo "[]." > "$work/rabbitmq/enabled_plugins"
HOME=$work/rabbitmq RABBITMQ_NODE_PORT=$amqp_port RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODENAME=$node \
  RABBITMQ_DIST_PORT=$((amqp_port > 55535 ? amqp_port - 10000 : amqp_port + 10000)) RABBITMQ_MNESIA_BASE=$work/rabbitmq/mnesia \
  RABBITMQ_LOG_BASE=$work/rabbitmq/log RABBITMQ_ENABLED_PLUGINS_FILE=$work/rabbitmq/enabled_plugins RABBITMQ_CONFIG_FILE=$work/rabbitmq/none \
  /usr/lib/rabbitmq/bin/rabbitmq-server >/dev/null 2>&1 &
for _ in $(seq 1 120); do (echo > "/dev/tcp/127.0.0.1/$amqp_port") 2>/dev/null && break; sleep 0.5; done

log="postgresql://postgres@127.0.0.1:$pg_port/postgres"
queued="postgresql://postgres@127.0.0.1:$pg_port/queued"
amqp="amqp://127.0.0.1:$amqp_port/%2f"   # guest:guest by default; a password goes in $RUMMAGE_… (docs/configuration.md)
redis="redis://127.0.0.1:$redis_port"
users=$((events / 50)); items=$((events / 25))
"$rummage" generate --out "$work/mp" --users "$users" --items "$items" --events "$events" --seed 1 --jsonl --quiet
lines=$(wc -l < "$work/mp/events.jsonl")
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $("$bin/postgres" --version); $(redis-server --version | cut -d' ' -f1-3); RabbitMQ $(dpkg-query -W -f='${Version}' rabbitmq-server)"
echo "marketplace: rummage generate --users $users --items $items --events $events --seed 1 --jsonl ($lines event lines)"
echo
echo "\$ rummage ingest --from events.jsonl --log postgresql://…/postgres --json"
"$rummage" ingest --from "$work/mp/events.jsonl" --log "$log" --json --quiet | tail -1
table=$("$bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -tAc "select pg_total_relation_size('events')")
echo "  PostgreSQL events table with its indexes: $table bytes, $(ratio "$table" "$lines") bytes per event"
echo "\$ rummage publish --from events.jsonl --to amqp://… --queue bench --per-message 100 --json"
"$rummage" publish --from "$work/mp/events.jsonl" --to "$amqp" --queue bench --per-message 100 --json --quiet | tail -1
echo "\$ rummage ingest --from amqp://… --queue bench --log postgresql://…/queued --online-store redis://…/1 --idle-exit 2 --json"
"$rummage" ingest --from "$amqp" --queue bench --log "$queued" --online-store "$redis/1" --idle-exit 2 --json --quiet | tail -1
echo "\$ rummage online rebuild --log postgresql://…/postgres --online-store redis://…/0 --json"
used() { redis-cli -p "$redis_port" info memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r'; }
redis-cli -p "$redis_port" flushall >/dev/null
empty=$(used)
"$rummage" online rebuild --log "$log" --online-store "$redis/0" --json | tail -1

count() { redis-cli -p "$redis_port" eval "return #redis.call('KEYS', ARGV[1])" 0 "$1"; }
records() { redis-cli -p "$redis_port" eval "local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do n = n + redis.call('ZCARD', k) end return n" 0 "$1"; }
drop() { redis-cli -p "$redis_port" eval "local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('UNLINK', k) n = n + 1 end return n" 0 "$1" >/dev/null; }
total=$(used)
listings=$(redis-cli -p "$redis_port" hlen rummage:listing:state)
user_keys=$(count 'rummage:features:*:u:*'); user_records=$(records 'rummage:features:*:u:*')
item_keys=$(count 'rummage:features:*:i:*'); item_records=$(records 'rummage:features:*:i:*')
content_keys=$(count 'rummage:features:*:l:*')
before=$(used); drop 'rummage:features:*:u:*'; after=$(used); user_bytes=$((before - after))
before=$after; drop 'rummage:features:*:i:*'; after=$(used); item_bytes=$((before - after))
before=$after; drop 'rummage:features:*:l:*'; after=$(used); content_bytes=$((before - after))
states_bytes=$((after - empty))
echo "redis memory after the rebuild: $((total - empty)) bytes over an empty server"
echo "  listing states and sellers: $listings listings, $states_bytes bytes: $(ratio $states_bytes $listings) bytes per listing"
echo "  user feature records (u:): $user_keys users, $user_records records, $user_bytes bytes: $(ratio $user_bytes $user_keys) per user, $(ratio $user_bytes $user_records) per record"
echo "  listing feature records (i:): $item_keys listings, $item_records records, $item_bytes bytes: $(ratio $item_bytes $item_keys) per listing, $(ratio $item_bytes $item_records) per record"
echo "  listing content (l:): $content_keys listings, $content_bytes bytes: $(ratio $content_bytes $content_keys) per listing"

if [ "$serve" = "--serve" ]; then
  if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light >/dev/null
  fi
  echo
  "$rummage" bench serve --online-store "$redis/2" --hot-swaps 0 --metrics-rounds 0 --duration 15
  # The same catalog (prepared by bench serve in .rummage/bench-serve): a replica's memory, and batch scoring.
  bench=.rummage/bench-serve
  port=$(free_port)
  "$rummage" serve --registry "$bench/registry" --model bench-serve --log "$bench/events.sqlite" --port "$port" --poll 0 2>/dev/null &
  replica=$!
  until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.5; done
  echo "\$ rummage serve --registry $bench/registry --model bench-serve --log $bench/events.sqlite (in-memory stores)"
  echo "  resident memory once ready: $(awk '/VmRSS/ {print $2, $3}' /proc/$replica/status); $(curl -s "http://127.0.0.1:$port/readyz")"
  kill "$replica"; wait "$replica" 2>/dev/null || true
  for method in exact ann; do
    echo "\$ rummage batch-recommend --registry $bench/registry --model bench-serve --log $bench/events.sqlite --k 100 --method $method --out recs.jsonl --to redis://…/3"
    before=$(used)
    "$rummage" batch-recommend --registry "$bench/registry" --model bench-serve --log "$bench/events.sqlite" --k 100 --method "$method" \
      --out "$work/recs.jsonl" --to "$redis/3" --quiet
    after=$(used)
    if [ "$method" = exact ]; then
      echo "  redis: $(redis-cli -p "$redis_port" -n 3 dbsize) lists of 100, $((after - before)) bytes: $(ratio $((after - before)) "$(redis-cli -p "$redis_port" -n 3 dbsize)") per list"
    fi
  done
fi
