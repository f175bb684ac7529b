#!/usr/bin/env bash
# Registry benchmark: Lathe's gateway, through its own API and through its MLflow-compatible
# API, vs an MLflow tracking server, side by side, on one PostgreSQL, all traffic on loopback.
# One command, idempotent:
#
#     scripts/bench/registry/run.sh
#
# What it does, in order (details and results: docs/benchmarks.md, "Registry"):
#   1. installs wrk (Debian package) if missing and MLflow 3.17.2 (the release docs/mlflow.md
#      follows) + psycopg2-binary (PyPI) into .tools/mlflow-venv; builds
#      `cargo build --release -p lathe` (into $CARGO_TARGET_DIR when set);
#   2. Lathe: fresh database lathe_bench_registry, `lathe standalone`, seeds RUNS runs (metrics,
#      a param, a 4 KiB artifact each) and one model, then measures with wrk at concurrency 8:
#      reads at 100 versions, reads at 2,000 versions, list models (page of 100: 99 more
#      models are seeded, one version each), search runs (page of 100), log-batch (100
#      metrics), create-version; then a 50 MiB artifact upload and download with curl.
#      Each operation is measured twice on the same gateway and data, one right after the
#      other, with the same admin token: once on Lathe's own routes (`/api/v1/projects/...`,
#      column "Lathe /api/v1") and once on the MLflow routes the MLflow client would call
#      (`/api/2.0/mlflow/...`, `/api/2.0/mlflow-artifacts/...`, column "Lathe MLflow API";
#      the gateway's `mlflow_project` is set to the bench project). An MLflow route that Lathe
#      does not serve yet (404 ENDPOINT_NOT_FOUND) is reported as "not served", not dropped;
#   3. MLflow: the same MLflow calls against `mlflow server` on a fresh database mlflow_bench;
#   4. the physical reference: cp and dd (fsync) of the same 50 MiB file on the same disk;
#   5. prints the Markdown tables (also written to .tools/bench-registry/results.md): the three
#      columns per operation, then issue 18's targets per operation ("Lathe MLflow API" over
#      MLflow: at least 30x the requests per second and a p50 at least 10x lower, at the same
#      concurrency); stops both servers and drops both databases.
#
# Knobs (environment): BENCH_DURATION (s per measured phase, default 10), BENCH_WARMUP (s,
# default 2), BENCH_RUNS (default 500), BENCH_VERSIONS_LOW / BENCH_VERSIONS (100 / 2000),
# BENCH_SKIP_MLFLOW=1, BENCH_LATHE_BIN (use this binary instead of building), BENCH_PG_SSLMODE
# (libpq sslmode of both systems' database URLs, default disable), BENCH_QUIET_WAIT
# (s to wait before each phase for other processes to use under 25% CPU, default 120),
# BENCH_THREADS (wrk threads, default 2; the connections stay 8).
# A phase whose answers include any 4xx/5xx or socket error is reported as INVALID: a run
# with errors is not a number.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
TOOLS=$ROOT/.tools
WORK=$TOOLS/bench-registry
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
RUNS=${BENCH_RUNS:-500}
LOW=${BENCH_VERSIONS_LOW:-100}
HIGH=${BENCH_VERSIONS:-2000}
LIST_MODELS=100
CONNS=8
THREADS=${BENCH_THREADS:-2}
QUIET_WAIT=${BENCH_QUIET_WAIT:-120}
MLFLOW_PIN=3.17.2
ARTIFACT_MIB=50
PG_HOST=127.0.0.1
PG_URL=postgres://postgres@127.0.0.1:5432
# Both systems reach PostgreSQL on loopback without TLS (libpq's default, `prefer`, takes TLS
# when the server offers it: then encryption, not the servers, dominates a read; see the docs).
SSLMODE=${BENCH_PG_SSLMODE:-disable}
LATHE_DB=lathe_bench_registry
MLFLOW_DB=mlflow_bench
PROJECT=bench
MODEL=m

log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

rm -rf "$WORK"
mkdir -p "$WORK/logs"
RESULTS=$WORK/results.tsv # system, operation, versions, requests, seconds, p50_us, p99_us, errors, background CPU %
: >"$RESULTS"
ARTIFACTS=$WORK/artifacts.tsv # system, direction, seconds...
: >"$ARTIFACTS"
UNSERVED=$WORK/unserved.tsv # system, operation, versions, what the route answered
: >"$UNSERVED"
NOTES=$WORK/notes.txt
: >"$NOTES"

LATHE_PID=""
MLFLOW_PID=""
cleanup() {
  set +e
  [[ -n $LATHE_PID ]] && kill "$LATHE_PID" 2>/dev/null && wait "$LATHE_PID" 2>/dev/null
  # mlflow runs uvicorn workers as children: it was started in its own process group.
  [[ -n $MLFLOW_PID ]] && kill -- "-$MLFLOW_PID" 2>/dev/null && wait "$MLFLOW_PID" 2>/dev/null
  LATHE_PID="" MLFLOW_PID=""
  dropdb -h "$PG_HOST" -U postgres --if-exists "$LATHE_DB" 2>/dev/null
  dropdb -h "$PG_HOST" -U postgres --if-exists "$MLFLOW_DB" 2>/dev/null
  rm -f "$WORK"/*.bin
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_http() { # URL SECONDS
  local i
  for ((i = 0; i < $2 * 2; i++)); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.5
  done
  return 1
}

# ---------------------------------------------------------------- tools and build
log "tools"
if ! command -v wrk >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
command -v wrk >/dev/null || die "wrk is not installed and apt-get could not install it"
pg_isready -q -h "$PG_HOST" || die "PostgreSQL is not answering on $PG_HOST:5432"

MLFLOW_STATUS=ok
MLFLOW=$TOOLS/mlflow-venv/bin/mlflow
if [[ ${BENCH_SKIP_MLFLOW:-0} == 1 ]]; then
  MLFLOW_STATUS="skipped (BENCH_SKIP_MLFLOW=1)"
elif ! "$TOOLS/mlflow-venv/bin/python" -c 'import mlflow, psycopg2' 2>/dev/null; then
  # The venv may come from scripts/mlflow/install-venv.sh (mlflow and scikit-learn, no
  # psycopg2): add what the server needs, at the same pin.
  if ! { { [[ -x $TOOLS/mlflow-venv/bin/pip ]] || python3 -m venv "$TOOLS/mlflow-venv"; } &&
    "$TOOLS/mlflow-venv/bin/pip" install -q "mlflow==$MLFLOW_PIN" psycopg2-binary; } >"$WORK/logs/pip.log" 2>&1; then
    MLFLOW_STATUS="could not be installed (see .tools/bench-registry/logs/pip.log)"
  fi
fi
[[ $MLFLOW_STATUS == ok ]] && MLFLOW_VERSION=$("$TOOLS/mlflow-venv/bin/python" -c 'import mlflow; print(mlflow.__version__)')

if [[ -n ${BENCH_LATHE_BIN:-} ]]; then
  LATHE=$BENCH_LATHE_BIN
else
  log "cargo build --release -p lathe"
  (cd "$ROOT" && cargo build --release -p lathe)
  LATHE=${CARGO_TARGET_DIR:-$ROOT/target}/release/lathe
fi

# ---------------------------------------------------------------- measuring
# busy_pct: CPU busy (all cores, percent) over the next second, read from /proc/stat.
busy_pct() {
  local a b
  a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
  awk -v u1="${a[1]}" -v n1="${a[2]}" -v s1="${a[3]}" -v i1="${a[4]}" -v w1="${a[5]}" -v q1="${a[6]}" -v sq1="${a[7]}" -v st1="${a[8]}" \
      -v u2="${b[1]}" -v n2="${b[2]}" -v s2="${b[3]}" -v i2="${b[4]}" -v w2="${b[5]}" -v q2="${b[6]}" -v sq2="${b[7]}" -v st2="${b[8]}" \
    'BEGIN { busy = (u2+n2+s2+q2+sq2+st2) - (u1+n1+s1+q1+sq1+st1); idle = (i2+w2) - (i1+w1);
             printf "%d", (busy + idle) ? 100 * busy / (busy + idle) : 0 }'
}

# wait_quiet: the machine is shared (2 cores). Before a phase, wait (up to BENCH_QUIET_WAIT s,
# default 120) until other processes use under 25% of the CPU; print the last reading.
wait_quiet() {
  local busy waited=0
  busy=$(busy_pct)
  while ((busy >= 25 && waited < QUIET_WAIT)); do
    sleep 4
    waited=$((waited + 5))
    busy=$(busy_pct)
  done
  echo "$busy"
}

# measure SYSTEM OPERATION VERSIONS BASE_URL METHOD PATH BODY_FILE|- N RUNS_FILE|- [HEADER]
measure() {
  local system=$1 op=$2 versions=$3 base=$4 method=$5 path=$6 body=$7 n=$8 runs=$9 header=${10:-}
  local slug="${system}-${op// /_}-${versions}"
  local args=(-t"$THREADS" -c"$CONNS" --timeout 30s --latency -s "$HERE/request.lua")
  [[ -n $header ]] && args+=(-H "$header")
  local busy
  busy=$(wait_quiet)
  if ((WARMUP > 0)); then
    wrk "${args[@]}" -d"${WARMUP}s" "$base" -- "$method" "$path" "$body" "$n" "$runs" >"$WORK/logs/$slug.warmup" 2>&1
  fi
  wrk "${args[@]}" -d"${DURATION}s" "$base" -- "$method" "$path" "$body" "$n" "$runs" >"$WORK/logs/$slug.wrk" 2>&1 ||
    die "wrk failed for $slug: $(tail -3 "$WORK/logs/$slug.wrk")"
  local line
  line=$(grep '^RESULT' "$WORK/logs/$slug.wrk") || die "no RESULT from wrk for $slug"
  local -A r
  local kv
  for kv in ${line#RESULT }; do r[${kv%%=*}]=${kv#*=}; done
  local errors=$((r[non2xx] + r[connect] + r[read] + r[write] + r[timeout]))
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$system" "$op" "$versions" "${r[requests]}" \
    "$(awk -v d="${r[duration_us]}" 'BEGIN{printf "%.3f", d/1e6}')" "${r[p50_us]}" "${r[p99_us]}" "$errors" "$busy" >>"$RESULTS"
  printf '  %-28s %6s versions: %s background_cpu=%s%%\n' "$system $op" "$versions" "${line#RESULT }" "$busy" >&2
}

# status METHOD URL [BODY] [HEADER]: one request; prints the HTTP status, the body goes to
# $WORK/check.out.
status() {
  local method=$1 url=$2 body=${3:-} header=${4:-}
  local args=(-s -o "$WORK/check.out" -w '%{http_code}' -X "$method")
  [[ -n $header ]] && args+=(-H "$header")
  [[ -n $body ]] && args+=(-H 'Content-Type: application/json' --data-binary "@$body")
  curl "${args[@]}" "$url"
}

# check METHOD URL [BODY] [HEADER]: one request first, so a phase never measures error pages.
check() {
  local code
  code=$(status "$@")
  [[ $code == 2?? ]] || die "$1 $2 answered $code: $(head -c 400 "$WORK/check.out")"
}

# served SYSTEM OPERATION VERSIONS METHOD URL [BODY] [HEADER]: check, except that an MLflow
# route the server does not serve (404 ENDPOINT_NOT_FOUND) is recorded in $UNSERVED and
# returns 1, so the report says "not served" instead of leaving the row out.
served() {
  local system=$1 op=$2 versions=$3
  shift 3
  local code
  code=$(status "$@")
  [[ $code == 2?? ]] && return 0
  if [[ $code == 404 ]] && grep -q ENDPOINT_NOT_FOUND "$WORK/check.out"; then
    printf '%s\t%s\t%s\t%s %s: 404 ENDPOINT_NOT_FOUND\n' "$system" "$op" "$versions" "$1" "/${2#http://*/}" >>"$UNSERVED"
    printf '  %-28s %6s versions: not served (%s %s: 404 ENDPOINT_NOT_FOUND)\n' "$system $op" "$versions" "$1" "$2" >&2
    return 1
  fi
  die "$1 $2 answered $code: $(head -c 400 "$WORK/check.out")"
}

# note_count TEXT KEY: notes how many items the last check's JSON answer holds under KEY.
note_count() {
  python3 -c 'import json, sys; print(f"{sys.argv[1]}: {len(json.load(open(sys.argv[2])).get(sys.argv[3], []))} items")' \
    "$1" "$WORK/check.out" "$2" >>"$NOTES"
}

# artifact SYSTEM DIRECTION SECONDS
record_transfer() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$ARTIFACTS"; }

# curl_time METHOD URL FILE_IN|- FILE_OUT|- [HEADER]: prints seconds; dies unless 2xx.
curl_time() {
  local method=$1 url=$2 in=$3 out=$4 header=${5:-}
  local args=(-s -X "$method" -w '%{http_code} %{time_total}' -H 'Expect:')
  [[ -n $header ]] && args+=(-H "$header")
  [[ $in != - ]] && args+=(-H 'Content-Type: application/octet-stream' -T "$in")
  if [[ $out != - ]]; then args+=(-o "$out"); else args+=(-o "$WORK/transfer.out"); fi
  local res
  res=$(curl "${args[@]}" "$url")
  [[ ${res%% *} == 2?? ]] || die "$method $url answered ${res%% *}"
  echo "${res#* }"
}

BLOB=$WORK/blob.bin
log "making a ${ARTIFACT_MIB} MiB file from /dev/urandom"
dd if=/dev/urandom of="$BLOB" bs=1M count="$ARTIFACT_MIB" status=none
BLOB_SHA=$(sha256sum "$BLOB" | cut -d' ' -f1)

# MLflow's log-batch body, sent to Lathe's MLflow API and to MLflow alike.
python3 -c '
import json
print(json.dumps({"run_id": "RUN", "metrics": [{"key": f"m{i}", "value": 0.5, "step": "STEP", "timestamp": "TS"} for i in range(100)]}).replace("RUN", "{run}").replace("\"STEP\"", "{step}").replace("\"TS\"", "{ts}"))
' >"$WORK/mlflow-log-batch.json"
printf '{"name":"%s"}' "$MODEL" >"$WORK/mlflow-latest.json"
# The first page of the model's versions, as MLflow's client asks for it.
MLFLOW_LIST_VERSIONS="model-versions/search?filter=name%3D%27$MODEL%27&max_results=100"

# ---------------------------------------------------------------- Lathe
bench_lathe() {
  log "Lathe: database, standalone"
  dropdb -h "$PG_HOST" -U postgres --if-exists "$LATHE_DB"
  createdb -h "$PG_HOST" -U postgres "$LATHE_DB"
  local data=$WORK/lathe-data port
  rm -rf "$data"
  port=$(free_port)
  export LATHE_REGISTRY__DATABASE__URL="$PG_URL/$LATHE_DB?sslmode=$SSLMODE"
  export LATHE_TELEMETRY__LOG_FILTER=warn
  export LATHE_REGISTRY__GRPC_ADDR=127.0.0.1:0 LATHE_FEATURES__GRPC_ADDR=127.0.0.1:0
  export LATHE_ORCHESTRATOR__GRPC_ADDR=127.0.0.1:0 LATHE_MONITOR__GRPC_ADDR=127.0.0.1:0
  # The admin token covers every project: the MLflow API works in this one.
  export LATHE_GATEWAY__MLFLOW_PROJECT=$PROJECT
  "$LATHE" standalone --data-dir "$data" --http-addr "127.0.0.1:$port" >"$WORK/logs/lathe.log" 2>&1 &
  LATHE_PID=$!
  local base=http://127.0.0.1:$port
  wait_http "$base/readyz" 120 || die "Lathe did not become ready: $(tail -5 "$WORK/logs/lathe.log")"
  local token
  token=$("$LATHE" token create --data-dir "$data" --subject bench --role admin)
  local auth="Authorization: Bearer $token"
  local p=/api/v1/projects/$PROJECT a=/api/2.0/mlflow
  local runs=$WORK/lathe-runs.txt
  # measure_mlflow_api OPERATION VERSIONS METHOD PATH BODY N RUNS: the same operation through
  # Lathe's MLflow API (checked by the caller with `served`).
  measure_mlflow_api() { measure lathe-mlflow "$1" "$2" "$base" "$3" "$4" "$5" "$6" "$7" "$auth"; }

  log "Lathe: seeding $RUNS runs and $LOW versions"
  local exp
  exp=$(python3 "$HERE/seed.py" lathe-runs "$base" "$token" "$PROJECT" "$RUNS" "$runs")
  exp=${exp#experiment_id=}
  python3 "$HERE/seed.py" lathe-versions "$base" "$token" "$PROJECT" "$MODEL" 1 "$LOW" "$runs"
  lathe_marks() { # STAGING PRODUCTION CHAMPION
    printf '{"stage":"Staging"}' >"$WORK/stage.json"
    check POST "$base$p/models/$MODEL/versions/$1/stage" "$WORK/stage.json" "$auth"
    printf '{"stage":"Production"}' >"$WORK/stage.json"
    check POST "$base$p/models/$MODEL/versions/$2/stage" "$WORK/stage.json" "$auth"
    printf '{"version":%s}' "$3" >"$WORK/alias.json"
    check PUT "$base$p/models/$MODEL/aliases/champion" "$WORK/alias.json" "$auth"
  }
  lathe_reads() { # VERSIONS: each read on /api/v1, then the same through the MLflow API
    local n=$1
    check GET "$base$p/models/$MODEL/versions/$n" "" "$auth"
    check GET "$base$p/models/$MODEL/aliases/champion" "" "$auth"
    check GET "$base$p/models/$MODEL" "" "$auth"
    check GET "$base$p/models/$MODEL/versions?page_size=100" "" "$auth"
    note_count "lathe list-versions at $n versions, first page" versions
    measure lathe get-version "$n" "$base" GET "$p/models/$MODEL/versions/{v}" - "$n" - "$auth"
    if served lathe-mlflow get-version "$n" GET "$base$a/model-versions/get?name=$MODEL&version=$n" "" "$auth"; then
      measure_mlflow_api get-version "$n" GET "$a/model-versions/get?name=$MODEL&version={v}" - "$n" -
    fi
    measure lathe get-by-alias "$n" "$base" GET "$p/models/$MODEL/aliases/champion" - 1 - "$auth"
    if served lathe-mlflow get-by-alias "$n" GET "$base$a/registered-models/alias?name=$MODEL&alias=champion" "" "$auth"; then
      measure_mlflow_api get-by-alias "$n" GET "$a/registered-models/alias?name=$MODEL&alias=champion" - 1 -
    fi
    measure lathe get-model "$n" "$base" GET "$p/models/$MODEL" - 1 - "$auth"
    if served lathe-mlflow get-model "$n" GET "$base$a/registered-models/get?name=$MODEL" "" "$auth"; then
      measure_mlflow_api get-model "$n" GET "$a/registered-models/get?name=$MODEL" - 1 -
    fi
    if served lathe-mlflow get-latest-versions "$n" POST "$base$a/registered-models/get-latest-versions" "$WORK/mlflow-latest.json" "$auth"; then
      measure_mlflow_api get-latest-versions "$n" POST "$a/registered-models/get-latest-versions" "$WORK/mlflow-latest.json" 1 -
    fi
    measure lathe list-versions "$n" "$base" GET "$p/models/$MODEL/versions?page_size=100" - 1 - "$auth"
    if served lathe-mlflow list-versions "$n" GET "$base$a/$MLFLOW_LIST_VERSIONS" "" "$auth"; then
      note_count "lathe-mlflow list-versions at $n versions, first page" model_versions
      measure_mlflow_api list-versions "$n" GET "$a/$MLFLOW_LIST_VERSIONS" - 1 -
    fi
  }
  lathe_marks $((LOW / 10)) $((LOW / 5)) $((LOW / 2))
  log "Lathe: reads at $LOW versions"
  lathe_reads "$LOW"

  log "Lathe: seeding versions $((LOW + 1))..$HIGH"
  python3 "$HERE/seed.py" lathe-versions "$base" "$token" "$PROJECT" "$MODEL" $((LOW + 1)) "$HIGH" "$runs"
  lathe_marks $((HIGH * 3 / 4)) $((HIGH * 19 / 20)) $((HIGH / 2))
  log "Lathe: reads at $HIGH versions"
  lathe_reads "$HIGH"

  log "Lathe: list models (page of 100: the bench model and $((LIST_MODELS - 1)) more, one version each)"
  python3 "$HERE/seed.py" lathe-models "$base" "$token" "$PROJECT" $((LIST_MODELS - 1)) "$runs"
  check GET "$base$p/models?page_size=100" "" "$auth"
  note_count "lathe list-models, first page" models
  echo "lathe list-models, one request alone: $(curl_time GET "$base$p/models?page_size=100" - /dev/null "$auth") s" >>"$NOTES"
  measure lathe list-models "$HIGH" "$base" GET "$p/models?page_size=100" - 1 - "$auth"
  if served lathe-mlflow list-models "$HIGH" GET "$base$a/registered-models/search?max_results=100" "" "$auth"; then
    note_count "lathe-mlflow list-models, first page" registered_models
    measure_mlflow_api list-models "$HIGH" GET "$a/registered-models/search?max_results=100" - 1 -
  fi

  log "Lathe: search, log-batch, create-version (at $HIGH+ versions)"
  printf '{"experiment_ids":["%s"],"filter":"metrics.accuracy > 0.5","order_by":["metrics.accuracy DESC"],"page_size":100}' \
    "$exp" >"$WORK/lathe-search.json"
  check POST "$base$p/runs/search" "$WORK/lathe-search.json" "$auth"
  note_count "lathe search-runs, first page" runs
  measure lathe search-runs "$HIGH" "$base" POST "$p/runs/search" "$WORK/lathe-search.json" 1 - "$auth"
  printf '{"experiment_ids":["%s"],"filter":"metrics.accuracy > 0.5","order_by":["metrics.accuracy DESC"],"max_results":100}' \
    "$exp" >"$WORK/lathe-mlflow-search.json"
  if served lathe-mlflow search-runs "$HIGH" POST "$base$a/runs/search" "$WORK/lathe-mlflow-search.json" "$auth"; then
    note_count "lathe-mlflow search-runs, first page" runs
    measure_mlflow_api search-runs "$HIGH" POST "$a/runs/search" "$WORK/lathe-mlflow-search.json" 1 -
  fi
  python3 -c '
import json
print(json.dumps({"metrics": [{"key": f"m{i}", "value": 0.5, "step": "STEP", "timestamp_ms": "TS"} for i in range(100)], "params": [], "tags": []}).replace("\"STEP\"", "{step}").replace("\"TS\"", "{ts}"))
' >"$WORK/lathe-log-batch.json"
  measure lathe log-batch "$HIGH" "$base" POST "$p/runs/{run}/log-batch" "$WORK/lathe-log-batch.json" 1 "$runs" "$auth"
  local run
  run=$(head -1 "$runs")
  sed "s/{run}/$run/; s/{step}/0/g; s/{ts}/$(date +%s000)/g" "$WORK/mlflow-log-batch.json" >"$WORK/check-log-batch.json"
  if served lathe-mlflow log-batch "$HIGH" POST "$base$a/runs/log-batch" "$WORK/check-log-batch.json" "$auth"; then
    measure_mlflow_api log-batch "$HIGH" POST "$a/runs/log-batch" "$WORK/mlflow-log-batch.json" 1 "$runs"
  fi
  printf '{"run_id":"{run}","artifact_path":"model"}' >"$WORK/lathe-create.json"
  measure lathe create-version "$HIGH" "$base" POST "$p/models/$MODEL/versions" "$WORK/lathe-create.json" 1 "$runs" "$auth"
  # The source a client's `register_model("runs:/<run>/model", ...)` sends: Lathe copies the
  # run's 4 KiB artifact into the version, as on /api/v1.
  printf '{"name":"%s","source":"runs:/{run}/model","run_id":"{run}"}' "$MODEL" >"$WORK/lathe-mlflow-create.json"
  sed "s/{run}/$run/g" "$WORK/lathe-mlflow-create.json" >"$WORK/check-create.json"
  if served lathe-mlflow create-version "$HIGH" POST "$base$a/model-versions/create" "$WORK/check-create.json" "$auth"; then
    measure_mlflow_api create-version "$HIGH" POST "$a/model-versions/create" "$WORK/lathe-mlflow-create.json" 1 "$runs"
  fi

  log "Lathe: ${ARTIFACT_MIB} MiB artifact"
  local i secs
  for i in 1 2 3; do
    secs=$(curl_time PUT "$base$p/runs/$run/artifacts/blob/blob-$i.bin" "$BLOB" - "$auth")
    record_transfer lathe upload "$secs"
    secs=$(curl_time GET "$base$p/runs/$run/artifacts/blob/blob-$i.bin" - "$WORK/down.bin" "$auth")
    record_transfer lathe download "$secs"
    [[ $(sha256sum "$WORK/down.bin" | cut -d' ' -f1) == "$BLOB_SHA" ]] || die "Lathe download $i differs from the upload"
  done
  curl -s -o /dev/null -D "$WORK/headers.txt" -H "$auth" "$base$p/runs/$run/artifacts/blob/blob-1.bin"
  grep -qi "x-lathe-sha256: $BLOB_SHA" "$WORK/headers.txt" || echo "lathe download: x-lathe-sha256 header missing or different" >>"$NOTES"

  log "Lathe: ${ARTIFACT_MIB} MiB artifact through the MLflow artifact proxy"
  local proxy=$base/api/2.0/mlflow-artifacts/artifacts/$exp/$run/artifacts
  head -c 4096 /dev/urandom >"$WORK/small.bin"
  # A PUT's body is raw bytes: `served` sends it as a file with curl's --data-binary.
  if served lathe-mlflow upload "$HIGH" PUT "$proxy/probe/small.bin" "$WORK/small.bin" "$auth" &&
    served lathe-mlflow download "$HIGH" GET "$proxy/probe/small.bin" "" "$auth"; then
    for i in 1 2 3; do
      secs=$(curl_time PUT "$proxy/blob/mlflow-blob-$i.bin" "$BLOB" - "$auth")
      record_transfer lathe-mlflow upload "$secs"
      secs=$(curl_time GET "$proxy/blob/mlflow-blob-$i.bin" - "$WORK/down.bin" "$auth")
      record_transfer lathe-mlflow download "$secs"
      [[ $(sha256sum "$WORK/down.bin" | cut -d' ' -f1) == "$BLOB_SHA" ]] || die "Lathe MLflow-proxy download $i differs from the upload"
    done
  fi

  kill "$LATHE_PID" && wait "$LATHE_PID" 2>/dev/null || true
  LATHE_PID=""
  dropdb -h "$PG_HOST" -U postgres --if-exists "$LATHE_DB"
}

# ---------------------------------------------------------------- MLflow
bench_mlflow() {
  log "MLflow $MLFLOW_VERSION: database, server"
  dropdb -h "$PG_HOST" -U postgres --if-exists "$MLFLOW_DB"
  createdb -h "$PG_HOST" -U postgres "$MLFLOW_DB"
  local port dir=$WORK/mlflow
  rm -rf "$dir"
  mkdir -p "$dir"
  port=$(free_port)
  # Default workers (4, uvicorn); access log off, as Lathe runs with log filter `warn`.
  (cd "$dir" && exec setsid "$MLFLOW" server \
    --backend-store-uri "postgresql+psycopg2://postgres@127.0.0.1:5432/$MLFLOW_DB?sslmode=$SSLMODE" \
    --artifacts-destination "$dir/artifacts" --host 127.0.0.1 --port "$port" \
    --uvicorn-opts "--no-access-log" >"$WORK/logs/mlflow.log" 2>&1) &
  MLFLOW_PID=$!
  local base=http://127.0.0.1:$port a=/api/2.0/mlflow
  if ! wait_http "$base/health" 180; then
    MLFLOW_STATUS="did not start (see .tools/bench-registry/logs/mlflow.log)"
    return 0
  fi
  local runs=$WORK/mlflow-runs.txt

  log "MLflow: seeding $RUNS runs and $LOW versions"
  local exp
  exp=$(python3 "$HERE/seed.py" mlflow-runs "$base" "$RUNS" "$runs")
  exp=${exp#experiment_id=}
  python3 "$HERE/seed.py" mlflow-versions "$base" "$MODEL" 1 "$LOW"
  mlflow_marks() { # STAGING PRODUCTION CHAMPION
    printf '{"name":"%s","version":"%s","stage":"Staging","archive_existing_versions":false}' "$MODEL" "$1" >"$WORK/stage.json"
    check POST "$base$a/model-versions/transition-stage" "$WORK/stage.json"
    printf '{"name":"%s","version":"%s","stage":"Production","archive_existing_versions":false}' "$MODEL" "$2" >"$WORK/stage.json"
    check POST "$base$a/model-versions/transition-stage" "$WORK/stage.json"
    printf '{"name":"%s","alias":"champion","version":"%s"}' "$MODEL" "$3" >"$WORK/alias.json"
    check POST "$base$a/registered-models/alias" "$WORK/alias.json"
  }
  local search_path="$a/$MLFLOW_LIST_VERSIONS"
  mlflow_reads() { # VERSIONS
    local n=$1
    check GET "$base$a/model-versions/get?name=$MODEL&version=$n"
    check GET "$base$a/registered-models/alias?name=$MODEL&alias=champion"
    check GET "$base$a/registered-models/get?name=$MODEL"
    check POST "$base$a/registered-models/get-latest-versions" "$WORK/mlflow-latest.json"
    check GET "$base$search_path"
    note_count "mlflow list-versions at $n versions, first page" model_versions
    measure mlflow get-version "$n" "$base" GET "$a/model-versions/get?name=$MODEL&version={v}" - "$n" -
    measure mlflow get-by-alias "$n" "$base" GET "$a/registered-models/alias?name=$MODEL&alias=champion" - 1 -
    measure mlflow get-model "$n" "$base" GET "$a/registered-models/get?name=$MODEL" - 1 -
    measure mlflow get-latest-versions "$n" "$base" POST "$a/registered-models/get-latest-versions" "$WORK/mlflow-latest.json" 1 -
    measure mlflow list-versions "$n" "$base" GET "$search_path" - 1 -
  }
  mlflow_marks $((LOW / 10)) $((LOW / 5)) $((LOW / 2))
  log "MLflow: reads at $LOW versions"
  mlflow_reads "$LOW"

  log "MLflow: seeding versions $((LOW + 1))..$HIGH"
  python3 "$HERE/seed.py" mlflow-versions "$base" "$MODEL" $((LOW + 1)) "$HIGH"
  mlflow_marks $((HIGH * 3 / 4)) $((HIGH * 19 / 20)) $((HIGH / 2))
  log "MLflow: reads at $HIGH versions"
  mlflow_reads "$HIGH"

  log "MLflow: list models (page of 100: the bench model and $((LIST_MODELS - 1)) more, one version each)"
  python3 "$HERE/seed.py" mlflow-models "$base" $((LIST_MODELS - 1))
  check GET "$base$a/registered-models/search?max_results=100"
  note_count "mlflow list-models, first page" registered_models
  echo "mlflow list-models, one request alone: $(curl_time GET "$base$a/registered-models/search?max_results=100" - /dev/null) s" >>"$NOTES"
  measure mlflow list-models "$HIGH" "$base" GET "$a/registered-models/search?max_results=100" - 1 -
  # Requests wrk gave up on may still be running in MLflow's database: cancel them, so the
  # next phases measure MLflow and not its backlog.
  psql -h "$PG_HOST" -U postgres -Atc "SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity
    WHERE datname = '$MLFLOW_DB' AND state = 'active' AND pid <> pg_backend_pid()" |
    sed 's/^/  MLflow queries cancelled after list-models: /' >&2

  log "MLflow: search, log-batch, create-version (at $HIGH+ versions)"
  printf '{"experiment_ids":["%s"],"filter":"metrics.accuracy > 0.5","order_by":["metrics.accuracy DESC"],"max_results":100}' \
    "$exp" >"$WORK/mlflow-search.json"
  check POST "$base$a/runs/search" "$WORK/mlflow-search.json"
  note_count "mlflow search-runs, first page" runs
  measure mlflow search-runs "$HIGH" "$base" POST "$a/runs/search" "$WORK/mlflow-search.json" 1 -
  measure mlflow log-batch "$HIGH" "$base" POST "$a/runs/log-batch" "$WORK/mlflow-log-batch.json" 1 "$runs"
  printf '{"name":"%s","source":"s3://bench/m"}' "$MODEL" >"$WORK/mlflow-create.json"
  measure mlflow create-version "$HIGH" "$base" POST "$a/model-versions/create" "$WORK/mlflow-create.json" 1 -

  log "MLflow: ${ARTIFACT_MIB} MiB artifact (proxied artifact serving)"
  local i secs
  for i in 1 2 3; do
    secs=$(curl_time PUT "$base/api/2.0/mlflow-artifacts/artifacts/bench/blob-$i.bin" "$BLOB" -)
    record_transfer mlflow upload "$secs"
    secs=$(curl_time GET "$base/api/2.0/mlflow-artifacts/artifacts/bench/blob-$i.bin" - "$WORK/down.bin")
    record_transfer mlflow download "$secs"
    [[ $(sha256sum "$WORK/down.bin" | cut -d' ' -f1) == "$BLOB_SHA" ]] || die "MLflow download $i differs from the upload"
  done

  kill -- "-$MLFLOW_PID" 2>/dev/null && wait "$MLFLOW_PID" 2>/dev/null || true
  MLFLOW_PID=""
  dropdb -h "$PG_HOST" -U postgres --if-exists "$MLFLOW_DB"
}

# ---------------------------------------------------------------- disk reference
bench_disk() {
  log "disk reference: cp and dd of the same file on the same disk"
  local i t0 t1
  for i in 1 2 3; do
    rm -f "$WORK/copy.bin"
    t0=$EPOCHREALTIME
    cp "$BLOB" "$WORK/copy.bin"
    t1=$EPOCHREALTIME
    record_transfer disk cp "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.6f", b-a}')"
    rm -f "$WORK/copy.bin"
    t0=$EPOCHREALTIME
    dd if="$BLOB" of="$WORK/copy.bin" bs=1M conv=fsync status=none
    t1=$EPOCHREALTIME
    record_transfer disk dd-fsync "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.6f", b-a}')"
  done
  rm -f "$WORK/copy.bin"
}

START=$(date -u '+%Y-%m-%d %H:%M UTC')
bench_lathe
if [[ $MLFLOW_STATUS == ok ]]; then bench_mlflow; fi
bench_disk

# ---------------------------------------------------------------- report
log "report"
python3 "$HERE/report.py" "$RESULTS" "$ARTIFACTS" "$NOTES" \
  --started "$START" --lathe "$(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- services libs || echo '+dirty')" \
  --mlflow "${MLFLOW_VERSION:-n/a}" --mlflow-status "$MLFLOW_STATUS" --mib "$ARTIFACT_MIB" \
  --duration "$DURATION" --warmup "$WARMUP" --runs "$RUNS" --low "$LOW" --high "$HIGH" \
  --threads "$THREADS" --conns "$CONNS" --quiet-wait "$QUIET_WAIT" --unserved "$UNSERVED" | tee "$WORK/results.md"
