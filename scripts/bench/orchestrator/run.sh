#!/usr/bin/env bash
# Orchestrator benchmark: trigger-to-success time of two DAGs on PostgreSQL with two workers,
# Lathe beside Airflow 3 (LocalExecutor, same PostgreSQL, the same DAGs). One command:
#
#     scripts/bench/orchestrator/run.sh
#
# 1. Lathe: builds `cargo build --release -p lathe` (or uses BENCH_LATHE_BIN), a fresh database
#    lathe_bench_orchestrator, `lathe standalone` with its own worker off, and two
#    `lathe worker` processes (16 slots each); applies `chain10` (10 `true` tasks in a chain)
#    and `fanout100` (100 independent `true` tasks), then triggers each BENCH_REPEATS times
#    (default 5) through the REST API and polls the run every 10 ms until it succeeds. It
#    reports the client's trigger-to-success wall time and the server's (the run's end_time
#    minus its create_time, which no polling interval biases).
# 2. Airflow: scripts/bench/orchestrator/airflow.sh (the same DAGs as BashOperator tasks), unless
#    BENCH_SKIP_AIRFLOW=1.
# 3. Prints both tables and the ratios, also written to .tools/bench-orchestrator/results.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
WORK=$ROOT/.tools/bench-orchestrator
REPEATS=${BENCH_REPEATS:-5}
PORT=${PORT:-18111}
DB=lathe_bench_orchestrator
mkdir -p "$WORK"
log() { printf '\n== %s\n' "$*" >&2; }

BIN=${BENCH_LATHE_BIN:-$ROOT/target/release/lathe}
if [[ -z ${BENCH_LATHE_BIN:-} ]]; then
  log "cargo build --release -p lathe"
  (cd "$ROOT" && cargo build --release -p lathe --locked)
fi

DIR=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  dropdb -h 127.0.0.1 -U postgres --if-exists "$DB" 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT

dropdb -h 127.0.0.1 -U postgres --if-exists "$DB"; createdb -h 127.0.0.1 -U postgres "$DB"
export LATHE_TELEMETRY__LOG_FILTER=warn
URL="postgres://postgres@127.0.0.1:5432/$DB?sslmode=disable"
for s in REGISTRY FEATURES ORCHESTRATOR MONITOR; do
  export "LATHE_${s}__DATABASE__URL=$URL"
  export "LATHE_${s}__GRPC_ADDR=127.0.0.1:0"
done
GRPC=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export LATHE_ORCHESTRATOR__GRPC_ADDR=127.0.0.1:$GRPC

log "lathe standalone (no worker of its own) and two lathe workers on PostgreSQL"
LATHE_ORCHESTRATOR__WORKER__ENABLED=false "$BIN" standalone --data-dir "$DIR" --http-addr 127.0.0.1:$PORT >"$DIR/standalone.log" 2>&1 &
PIDS+=($!)
until curl -sf "localhost:$PORT/readyz" >/dev/null; do sleep 0.2; done
for w in w1 w2; do
  "$BIN" worker --name $w --data-dir "$DIR" >"$DIR/$w.log" 2>&1 &
  PIDS+=($!)
done
T=$("$BIN" token create --data-dir "$DIR" --subject bench --role admin)
H="Authorization: Bearer $T"
API=localhost:$PORT/api/v1/projects/bench
curl -sf -H "$H" -H 'content-type: application/json' -d '{"name":"bench"}' "localhost:$PORT/api/v1/projects" >/dev/null

python3 - "$DIR" <<'PY'
import json, sys
d = sys.argv[1]
chain = "name: chain10\ntasks:\n" + "".join(
    f"  - {{id: t{i}, kind: command, argv: ['true']{', depends_on: [t%d]' % (i - 1) if i else ''}}}\n" for i in range(10))
fan = "name: fanout100\nmax_parallel_tasks: 100\ntasks:\n" + "".join(
    f"  - {{id: t{i}, kind: command, argv: ['true']}}\n" for i in range(100))
json.dump({"files": [{"path": "chain10.yaml", "content": chain}, {"path": "fanout100.yaml", "content": fan}]},
          open(f"{d}/apply.json", "w"))
PY
curl -sf -H "$H" -H 'content-type: application/json' -d @"$DIR/apply.json" "$API/pipelines/apply" >/dev/null

log "measuring ($REPEATS runs of each)"
python3 - "$API" "$T" "$REPEATS" "$WORK/lathe-results.md" <<'PY'
import json, statistics, sys, time, urllib.request
from datetime import datetime
api, token, repeats, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def call(method, path, body=None):
    req = urllib.request.Request(f"http://{api}{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "content-type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)
def ts(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
rows = []
for dag in ["chain10", "fanout100"]:
    call("POST", f"/pipelines/{dag}/runs", {})  # warm-up
    time.sleep(2)
    wall, server = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        run = call("POST", f"/pipelines/{dag}/runs", {})
        while run["state"] not in ("success", "failed", "cancelled"):
            time.sleep(0.01)
            run = call("GET", f"/pipeline-runs/{run['run_id']}")
        wall.append(time.perf_counter() - start)
        if run["state"] != "success":
            sys.exit(f"{dag}: run {run['run_id']} ended {run['state']}")
        server.append(ts(run["end_time"]) - ts(run["create_time"]))
        time.sleep(0.5)
    rows.append((dag, wall, server))
lines = ["| DAG | runs | wall median s | wall min–max s | server median s | per step (chain) ms |", "|---|---|---|---|---|---|"]
for dag, wall, server in rows:
    step = f"{statistics.median(server) / 10 * 1000:.1f}" if dag == "chain10" else ""
    lines.append(f"| {dag} | {len(wall)} | {statistics.median(wall):.3f} | {min(wall):.3f}–{max(wall):.3f} | {statistics.median(server):.3f} | {step} |")
text = "\n".join(lines)
print("Lathe (2 workers, PostgreSQL)\n" + text)
open(out, "w").write(text + "\n")
PY

if [[ ${BENCH_SKIP_AIRFLOW:-0} != 1 ]]; then
  log "Airflow 3"
  BENCH_REPEATS=$REPEATS bash "$HERE/airflow.sh"
fi
{
  echo "## Orchestrator benchmark ($(date -u +%F), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
  echo; echo "Lathe"; cat "$WORK/lathe-results.md"
  if [[ -f $WORK/airflow-results.md ]]; then echo; echo "Airflow"; cat "$WORK/airflow-results.md"; fi
} | tee "$WORK/results.md"
