#!/usr/bin/env bash
# `rummage ingest` end to end into the SQLite event log and into the PostgreSQL one, in one run on the same
# generated event stream: starts a throwaway PostgreSQL server on a loopback port (initdb and postgres as the
# postgres user in a temporary directory, stopped and removed at exit) and prints lines/s for both.
#
# Usage: Benchmarks/postgres_log.sh [events]   (default 1000000 interactions)
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/common.sh
scripts/install-deps
events=${1:-1000000}
swift build -c release --product rummage >/dev/null
rummage=$PWD/.build/release/rummage
work=$(mktemp -d)
chown postgres:postgres "$work"
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
as_postgres "$bin/initdb" -D "$work/data" -A trust -U postgres -E UTF8 >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
trap 'as_postgres "$bin/pg_ctl" -D "$work/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
as_postgres "$bin/pg_ctl" -D "$work/data" -l "$work/pg.log" -w \
  -o "-p $port -k $work -c listen_addresses=127.0.0.1" start >/dev/null
"$rummage" generate --out "$work/mp" --users $((events / 100)) --items $((events / 50)) --events "$events" --seed 1 --jsonl --quiet
lines=$(wc -l < "$work/mp/events.jsonl")
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $("$bin/postgres" --version); $lines event lines"
for log in "$work/log.sqlite" "postgresql://postgres@127.0.0.1:$port/postgres"; do
  echo "\$ rummage ingest --from events.jsonl --log ${log/$work/DIR} --json"
  "$rummage" ingest --from "$work/mp/events.jsonl" --log "$log" --json | tail -1
done
