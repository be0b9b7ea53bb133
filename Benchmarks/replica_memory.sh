#!/usr/bin/env bash
# A serving replica's memory on the `rummage bench serve` catalog (110k listings, 100,667 live; 20k users;
# prepared in .rummage/bench-serve by Benchmarks/serve.sh or Benchmarks/scale_out.sh --serve): resident
# memory once ready with the in-memory stores and with a Redis online store (a Redis server is started on
# a loopback port and removed at exit), and the sizes of the version's artifacts, for docs/scaling.md.
#
# Usage: Benchmarks/replica_memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/common.sh
scripts/install-deps
swift build -c release --product rummage >/dev/null
rummage=$PWD/.build/release/rummage
bench=.rummage/bench-serve
if [ ! -d "$bench/registry" ]; then
  echo "skipping: $bench is not prepared (run Benchmarks/serve.sh first)"
  exit 0
fi
work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
redis_port=$(free_port)
trap 'redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" --daemonize yes >/dev/null
until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do sleep 0.2; done
redis="redis://127.0.0.1:$redis_port"
version=$(ls -d "$bench/registry/bench-serve/versions/"* | sort -V | head -1)
echo "machine: $(nproc) cores; catalog: $(sqlite3 "$bench/events.sqlite" 'select count(*) from events' 2>/dev/null || echo '?') events in $bench/events.sqlite"
echo "artifacts of $(basename "$version"):"
for f in model.rmg user_embeddings.rmg item_embeddings.rmg index.rmg; do printf '  %-22s %12d bytes\n' "$f" "$(stat -c %s "$version/$f")"; done
"$rummage" online rebuild --log "$bench/events.sqlite" --online-store "$redis" >/dev/null 2>&1
for store in memory redis; do
  port=$(free_port)
  extra=(); [ "$store" = redis ] && extra=(--online-store "$redis")
  "$rummage" serve --registry "$bench/registry" --model bench-serve --version 1 --log "$bench/events.sqlite" --port "$port" --poll 0 "${extra[@]}" >/dev/null 2>&1 &
  pid=$!
  until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.5; done
  curl -s "http://127.0.0.1:$port/v1/users/u1/recommendations?k=20" >/dev/null
  echo "\$ rummage serve --registry $bench/registry --model bench-serve --version 1 --log $bench/events.sqlite ${extra[*]/$redis/redis://…}"
  echo "  resident memory once ready: $(awk '/VmRSS/ {print $2, $3}' "/proc/$pid/status"); $(curl -s "http://127.0.0.1:$port/readyz" | cut -c1-80)…"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
