#!/usr/bin/env bash
# `rummage ingest` into PostgreSQL with a Redis online store (the replicas' configuration: every batch with
# a listing event takes the writers' lock), with two rummage binaries, alternating, twice each, on one
# generated stream in one run: a same-machine comparison of a change's ingest cost. Starts a throwaway
# PostgreSQL and Redis on loopback ports, removed at exit.
#
# Usage: Benchmarks/compare_ingest.sh BASELINE_BINARY CHANGED_BINARY [events]   (default 300000 interactions)
set -euo pipefail
old=$1; new=$2; events=${3:-300000}
scripts/install-deps >/dev/null
work=$(mktemp -d); chown postgres:postgres "$work"
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
as_postgres "$bin/initdb" -D "$work/data" -A trust -U postgres -E UTF8 >/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port); rport=$(free_port)
trap 'as_postgres "$bin/pg_ctl" -D "$work/data" -m fast stop >/dev/null 2>&1 || true; kill $rpid 2>/dev/null || true; rm -rf "$work"' EXIT
as_postgres "$bin/pg_ctl" -D "$work/data" -l "$work/pg.log" -w -o "-p $port -k $work -c listen_addresses=127.0.0.1" start >/dev/null
redis-server --port "$rport" --save '' --appendonly no >/dev/null & rpid=$!
sleep 0.5
"$new" generate --out "$work/mp" --users $((events / 100)) --items $((events / 50)) --events "$events" --seed 1 --jsonl --quiet
echo "machine: $(nproc) cores; $("$bin/postgres" --version); $(redis-server --version | cut -d' ' -f1-3); $(wc -l < "$work/mp/events.jsonl") event lines"
n=0
for round in 1 2; do
  for which in baseline changed; do
    n=$((n + 1))
    as_postgres psql -q -h 127.0.0.1 -p "$port" -U postgres -c "create database r$n"
    binary=$old; [ "$which" = changed ] && binary=$new
    log="postgresql://postgres@127.0.0.1:$port/r$n" store="redis://127.0.0.1:$rport/$n"
    "$binary" online rebuild --log "$log" --online-store "$store" --quiet >/dev/null 2>&1 || true
    echo "$which: \$ rummage ingest --from events.jsonl --log postgresql://…/r$n --online-store redis://…/$n --json"
    "$binary" ingest --from "$work/mp/events.jsonl" --log "$log" --online-store "$store" --json --quiet | tail -1
  done
done
