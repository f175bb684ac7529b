#!/usr/bin/env bash
# Quick check of registry reads (release build, PostgreSQL, wrk c=8): GET model, version, alias
# with VERSIONS versions of one model (default 100), then a search of RUNS runs (default 500,
# page of 100, as run.sh measures it). The full comparison with MLflow is run.sh.
# BENCH_LATHE_BIN=path measures that binary instead of building one (for A/B runs);
# BENCH_PG_SSLMODE (default disable) is the database URL's sslmode, as in run.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"; BIN=${BENCH_LATHE_BIN:-$ROOT/target/release/lathe}; DIR=$(mktemp -d); PORT=${PORT:-18099}
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
[[ -n ${BENCH_LATHE_BIN:-} ]] || (cd "$ROOT" && cargo build --release -p lathe --locked)
dropdb -h 127.0.0.1 -U postgres --if-exists lathe_quickbench; createdb -h 127.0.0.1 -U postgres lathe_quickbench
export LATHE_TELEMETRY__LOG_FILTER=warn LATHE_REGISTRY__DATABASE__URL="postgres://postgres@127.0.0.1:5432/lathe_quickbench?sslmode=${BENCH_PG_SSLMODE:-disable}"
for s in REGISTRY FEATURES ORCHESTRATOR MONITOR; do export LATHE_${s}__GRPC_ADDR=127.0.0.1:0; done
$BIN standalone --data-dir "$DIR" --http-addr 127.0.0.1:$PORT > "$DIR/log" 2>&1 &
PID=$!; trap 'kill $PID; wait $PID 2>/dev/null; dropdb -h 127.0.0.1 -U postgres --if-exists lathe_quickbench' EXIT
until curl -sf localhost:$PORT/readyz >/dev/null; do sleep 0.2; done
T=$($BIN token create --data-dir "$DIR" --subject bench --role admin)
H="Authorization: Bearer $T"; U=localhost:$PORT/api/v1/projects/bench
curl -sf -H "$H" -H 'content-type: application/json' -d '{"name":"bench"}' localhost:$PORT/api/v1/projects >/dev/null
E=$(curl -sf -H "$H" -H 'content-type: application/json' -d '{"name":"e"}' $U/experiments | python3 -c 'import json,sys;print(json.load(sys.stdin)["experiment_id"])')
R=$(curl -sf -H "$H" -H 'content-type: application/json' -d "{\"experiment_id\":\"$E\"}" $U/runs | python3 -c 'import json,sys;print(json.load(sys.stdin)["run_id"])')
head -c 4096 /dev/urandom > "$DIR/m.bin"; curl -sf -X PUT -H "$H" --data-binary @"$DIR/m.bin" $U/runs/$R/artifacts/model/m.bin >/dev/null
curl -sf -H "$H" -H 'content-type: application/json' -d '{"name":"m"}' $U/models >/dev/null
for i in $(seq 1 ${VERSIONS:-100}); do curl -sf -H "$H" -H 'content-type: application/json' -d "{\"run_id\":\"$R\",\"artifact_path\":\"model\"}" $U/models/m/versions >/dev/null; done
curl -sf -X PUT -H "$H" -H 'content-type: application/json' -d '{"version":50}' $U/models/m/aliases/champion >/dev/null
for path in models/m models/m/versions/50 models/m/aliases/champion; do
  echo "== GET /$path (${VERSIONS:-100} versions)"
  wrk -t2 -c8 -d8s --latency -H "$H" "http://$U/$path" | grep -E "Requests/sec|50%|99%|Non-2xx|Socket errors" || true
done
R=$(python3 "$ROOT/scripts/bench/registry/seed.py" lathe-runs "http://localhost:$PORT" "$T" runsbench "${RUNS:-500}" "$DIR/runs.txt")
printf '{"experiment_ids":["%s"],"filter":"metrics.accuracy > 0.5","order_by":["metrics.accuracy DESC"],"page_size":100}' "${R#experiment_id=}" > "$DIR/search.json"
echo "== POST /runs/search (${RUNS:-500} runs, page of 100)"
wrk -t2 -c8 -d8s --latency -H "$H" -s "$ROOT/scripts/bench/registry/request.lua" "http://localhost:$PORT" -- POST /api/v1/projects/runsbench/runs/search "$DIR/search.json" |
  grep -E "Requests/sec|50%|99%|Non-2xx|Socket errors" || true
