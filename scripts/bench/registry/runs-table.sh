#!/usr/bin/env bash
# The web UI's runs table at 100,000 runs (issue 22): seeds RUNS runs (default 100000) with two
# metrics and a param each into one experiment of a standalone, then times the searches the
# table sends, one at a time: page 1, and every page in turn to the last (runs_table.py checks
# each page and that the walk returns every run once).
#   BENCH_DB=sqlite (default, the embedded store) or postgres (database lathe_runsbench)
#   BENCH_LATHE_BIN=path measures that binary instead of building a release one.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
BIN=${BENCH_LATHE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/lathe}
DIR=$(mktemp -d); PORT=${PORT:-18098}; RUNS=${RUNS:-100000}; DB=${BENCH_DB:-sqlite}
[[ -n ${BENCH_LATHE_BIN:-} ]] || (cd "$ROOT" && cargo build --release -p lathe --locked)
export LATHE_TELEMETRY__LOG_FILTER=warn
for s in REGISTRY FEATURES ORCHESTRATOR MONITOR SERVING; do export LATHE_${s}__GRPC_ADDR=127.0.0.1:0; done
cleanup() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$DIR"; }
if [[ $DB == postgres ]]; then
    dropdb -h 127.0.0.1 -U postgres --if-exists lathe_runsbench
    createdb -h 127.0.0.1 -U postgres lathe_runsbench
    export LATHE_REGISTRY__DATABASE__URL="postgres://postgres@127.0.0.1:5432/lathe_runsbench?sslmode=disable"
fi
"$BIN" standalone --data-dir "$DIR" --http-addr 127.0.0.1:$PORT > "$DIR/log" 2>&1 &
PID=$!; trap cleanup EXIT
until curl -sf localhost:$PORT/readyz >/dev/null; do
    kill -0 "$PID" 2>/dev/null || { cat "$DIR/log"; exit 1; }
    sleep 0.2
done
T=$("$BIN" token create --data-dir "$DIR" --subject bench --role admin)
echo "== $("$BIN" --version 2>/dev/null || echo lathe), registry on $DB, $RUNS runs, $(nproc) cores"
E=$(python3 "$ROOT/scripts/bench/registry/runs_table.py" seed "http://localhost:$PORT" "$T" runsbench "$RUNS")
python3 "$ROOT/scripts/bench/registry/runs_table.py" measure "http://localhost:$PORT" "$T" runsbench "${E#experiment_id=}" "$RUNS" "${REPEATS:-20}"
