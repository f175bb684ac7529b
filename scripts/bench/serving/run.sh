#!/usr/bin/env bash
# Serving benchmark (issue 19): Lathe's predict call beside the glue teams run today, Feast's
# online read followed by `mlflow models serve` of the same scikit-learn model. Same data,
# same Redis (the online store of both), one system after the other, all traffic on loopback.
# One command, idempotent:
#
#     scripts/bench/serving/run.sh
#
# What it does, in order (details and results: docs/benchmarks.md, "Serving"):
#   1. installs wrk (Debian) if missing, Feast (feast[redis]) and aiohttp into
#      .tools/bench-serving-feast, MLflow 3.17.2 with make-fixtures.py's pins of scikit-learn,
#      skl2onnx, onnx and numpy into .tools/bench-serving-mlflow (two venvs: their pins
#      differ); builds `cargo build --release -p lathe` unless BENCH_LATHE_BIN is given;
#   2. models.py: BENCH_ENTITIES entities (default 10,000) with 3 float32 features, a
#      LogisticRegression and a GradientBoostingClassifier trained on them, each exported to
#      ONNX (as scripts/serving/make-fixtures.py does) and saved as an MLflow sklearn model;
#   3. Lathe: `lathe standalone` on a fresh data dir, online store Redis (127.0.0.1:6379, db
#      BENCH_REDIS_DB, key prefix `bench-serving`); the feature repo applied and materialized;
#      both models registered as versions 1 and 2 of model `bench` (artifact `model/model.onnx`,
#      signature `stats:f0,stats:f1,stats:f2`, aliases `logreg` and `gbc`) and deployed as
#      `logreg` and `gbc`; wrk measures the online read alone (`POST …/features/online`) and
#      predict (`POST …/predict/{deployment}`) for 1 and 100 entities, at BENCH_CONNS and
#      then one request at a time (wrk -t1 -c1: the call's latency without queueing);
#   4. the glue: a Feast repository on the same Parquet file and the same Redis db (Feast's
#      keys end with its project, `bench_serving`), materialized; `feast serve` and `mlflow
#      models serve` (BENCH_GLUE_WORKERS workers each, default 2); glue.py does Feast's online
#      read then MLflow's /invocations per request, for 1 and 100 entities, both models; wrk
#      also measures `feast serve`'s online read alone;
#   5. checks one 100-entity answer of every system against scikit-learn's own, prints the
#      Markdown tables (also .tools/bench-serving/results.md), stops the servers and deletes
#      its Redis keys (only those: the db may hold other people's).
#
# Requests per CPU-second: the CPU time (user + sys, /proc/<pid>/stat, children included) of
# every server process of the system during the phase (Lathe: `lathe standalone`; the glue:
# `feast serve` and `mlflow models serve` with their workers) plus Redis's, which both use;
# the load generators (wrk, glue.py) are not servers and are reported apart.
#
# Knobs (environment): BENCH_DURATION (s per phase, default 10), BENCH_WARMUP (s, default 2),
# BENCH_CONNS (concurrent requests, default 8; wrk runs 2 threads), BENCH_ENTITIES,
# BENCH_REDIS_DB (default 12), BENCH_GLUE_WORKERS, BENCH_LATHE_BIN, BENCH_SKIP_GLUE=1, BENCH_SKIP_LATHE=1,
# BENCH_QUIET_WAIT (s to wait before each phase for other processes to use under 25% CPU,
# default 60). A phase with any answer other than a 200 (or a socket error) is INVALID.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
TOOLS=$ROOT/.tools
WORK=$TOOLS/bench-serving
FEAST_VENV=$TOOLS/bench-serving-feast
MLFLOW_VENV=$TOOLS/bench-serving-mlflow
FPY=$FEAST_VENV/bin/python
MPY=$MLFLOW_VENV/bin/python
MLFLOW_PIN=3.17.2
SKLEARN_PINS=(scikit-learn==1.7.2 skl2onnx==1.20.0 onnx==1.23.2 numpy==2.4.6)
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
CONNS=${BENCH_CONNS:-8}
THREADS=2
ENTITIES=${BENCH_ENTITIES:-10000}
DB=${BENCH_REDIS_DB:-12}
GLUE_WORKERS=${BENCH_GLUE_WORKERS:-2}
QUIET_WAIT=${BENCH_QUIET_WAIT:-60}
PROJECT=bench
MODEL=bench
KEY_PREFIX=bench-serving
FEAST_PROJECT=bench_serving
FEATURES=stats:f0,stats:f1,stats:f2
MODELS=(logreg gbc)
SIZES=(1 100)

log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

rm -rf "$WORK"
mkdir -p "$WORK/logs" "$WORK/out"
RESULTS=$WORK/results.jsonl # one JSON object per measured phase
CHECKS=$WORK/checks.jsonl   # one JSON object per correctness check
NOTES=$WORK/notes.txt
: >"$RESULTS"
: >"$CHECKS"
: >"$NOTES"

LATHE_PID="" FEAST_PID="" MLFLOW_PID=""
stop_group() { # PID: a server started with setsid, with its workers
  [[ -n $1 ]] || return 0
  kill -- "-$1" 2>/dev/null || kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
delete_keys() {
  [[ -x $FPY ]] || return 0
  "$FPY" "$HERE/redis_keys.py" delete "$DB" "$KEY_PREFIX:*" "*$FEAST_PROJECT" 2>/dev/null || true
}
cleanup() {
  set +e
  [[ -n $LATHE_PID ]] && kill "$LATHE_PID" 2>/dev/null && wait "$LATHE_PID" 2>/dev/null
  stop_group "$FEAST_PID"
  stop_group "$MLFLOW_PID"
  LATHE_PID="" FEAST_PID="" MLFLOW_PID=""
  delete_keys >/dev/null
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
now() { echo "$EPOCHREALTIME"; }

# ---------------------------------------------------------------- tools and build
log "tools"
if ! command -v wrk >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
command -v wrk >/dev/null || die "wrk is not installed and apt-get could not install it"
[[ $(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null) == PONG ]] || die "Redis is not answering on 127.0.0.1:6379"
REDIS_PID=$(redis-cli -h 127.0.0.1 -p 6379 info server | awk -F: '/^process_id:/ {print $2}' | tr -d '\r')
REDIS_VERSION=$(redis-cli -h 127.0.0.1 -p 6379 info server | awk -F: '/^redis_version:/ {print $2}' | tr -d '\r')

if ! "$FPY" -c 'import feast, aiohttp, redis' 2>/dev/null; then
  log "installing feast[redis] and aiohttp into .tools/bench-serving-feast"
  { [[ -x $FEAST_VENV/bin/pip ]] || python3 -m venv "$FEAST_VENV"; } >"$WORK/logs/pip-feast.log" 2>&1
  "$FEAST_VENV/bin/pip" install -q 'feast[redis]' aiohttp >>"$WORK/logs/pip-feast.log" 2>&1 ||
    die "could not install Feast (see .tools/bench-serving/logs/pip-feast.log)"
fi
if ! "$MPY" -c "import mlflow, sklearn, skl2onnx, onnx; assert mlflow.__version__ == '$MLFLOW_PIN'" 2>/dev/null; then
  log "installing mlflow==$MLFLOW_PIN ${SKLEARN_PINS[*]} into .tools/bench-serving-mlflow"
  { [[ -x $MLFLOW_VENV/bin/pip ]] || python3 -m venv "$MLFLOW_VENV"; } >"$WORK/logs/pip-mlflow.log" 2>&1
  "$MLFLOW_VENV/bin/pip" install -q "mlflow==$MLFLOW_PIN" "${SKLEARN_PINS[@]}" >>"$WORK/logs/pip-mlflow.log" 2>&1 ||
    die "could not install MLflow (see .tools/bench-serving/logs/pip-mlflow.log)"
fi
FEAST_VERSION=$("$FPY" -c 'import feast; print(feast.__version__)')
MLFLOW_VERSION=$("$MPY" -c 'import mlflow; print(mlflow.__version__)')
SKLEARN_VERSION=$("$MPY" -c 'import sklearn; print(sklearn.__version__)')
export FEAST_USAGE=False MLFLOW_TRACKING_URI=file://$WORK/mlruns

# The commit the binary comes from: taken before building (others may commit during the run).
COMMIT="$(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- services libs proto || echo '+dirty')"
LATHE_COMMIT="commit \`$COMMIT\`, \`cargo build --release -p lathe\`"
if [[ ${BENCH_SKIP_LATHE:-0} == 1 ]]; then
  LATHE_COMMIT="skipped (BENCH_SKIP_LATHE=1)"
elif [[ -n ${BENCH_LATHE_BIN:-} ]]; then
  LATHE=$BENCH_LATHE_BIN
  LATHE_COMMIT="\`$BENCH_LATHE_BIN\` (BENCH_LATHE_BIN; the tree was at \`$COMMIT\` when the run started)"
else
  log "cargo build --release -p lathe"
  (cd "$ROOT" && cargo build --release -p lathe)
  LATHE=${CARGO_TARGET_DIR:-$ROOT/target}/release/lathe
fi
[[ ${BENCH_SKIP_LATHE:-0} == 1 || -x $LATHE ]] || die "no Lathe binary at $LATHE"

# ---------------------------------------------------------------- measuring
HZ=$(getconf CLK_TCK)
NCPU=$(nproc)
# busy_pct: all cores' busy share over the next second (percent), from /proc/stat.
busy_pct() {
  local a b
  read -r -a a </proc/stat
  sleep 1
  read -r -a b </proc/stat
  awk -v u1="${a[1]}" -v n1="${a[2]}" -v s1="${a[3]}" -v i1="${a[4]}" -v w1="${a[5]}" -v q1="${a[6]}" -v sq1="${a[7]}" -v st1="${a[8]}" \
      -v u2="${b[1]}" -v n2="${b[2]}" -v s2="${b[3]}" -v i2="${b[4]}" -v w2="${b[5]}" -v q2="${b[6]}" -v sq2="${b[7]}" -v st2="${b[8]}" \
    'BEGIN { busy = (u2+n2+s2+q2+sq2+st2) - (u1+n1+s1+q1+sq1+st1); idle = (i2+w2) - (i1+w1);
             printf "%d", (busy + idle) ? 100 * busy / (busy + idle) : 0 }'
}
# wait_quiet: before a phase, wait (up to QUIET_WAIT s) for other processes to use under 25%
# of the CPU; prints the last reading.
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
total_busy() {
  local a
  read -r -a a </proc/stat
  echo $((a[1] + a[2] + a[3] + a[8]))
}
# cpu_now NAME=PID...: CPU seconds of each named process tree, plus `ours` (this script's
# whole tree, the servers and clients included) and `total` (the machine's busy seconds).
cpu_now() {
  local j
  j=$("$FPY" "$HERE/cpu.py" "$@" "ours=$$,$REDIS_PID")
  printf '%s' "${j%\}}, \"total\": $(awk -v b="$(total_busy)" -v hz="$HZ" 'BEGIN{printf "%.2f", b/hz}'), \"t\": $(now)}"
}

# record SYSTEM OP MODEL ENTITIES BUSY RESULT_LINE CPU_BEFORE CPU_AFTER CLIENT_CPU
record() {
  "$FPY" - "$@" >>"$RESULTS" <<'EOF'
import json, sys
system, op, model, n, busy, line, c0, c1, client = sys.argv[1:10]
r = dict(kv.split("=", 1) for kv in line.split()[1:])
r = {k: (float(v) if "." in v else int(v)) for k, v in r.items()}
c0, c1 = json.loads(c0), json.loads(c1)
cpu = {k: round(c1[k] - c0[k], 2) for k in c0 if k not in ("t",)}
wall = c1["t"] - c0["t"]
ncpu = int(__import__("os").cpu_count())
background = max(0.0, (cpu.pop("total") - cpu.pop("ours")) / (wall * ncpu) * 100)
errors = sum(r.get(k, 0) for k in ("non2xx", "connect", "read", "write", "timeout"))
print(json.dumps({"system": system, "op": op, "model": model, "entities": int(n), "busy_before": int(busy),
                  "background_during": round(background), "wall_s": round(wall, 2), "errors": errors,
                  "client_cpu_s": float(client), "cpu_s": cpu, **r}))
EOF
}

# measure_wrk SYSTEM OP MODEL ENTITIES URL PATH KIND CPU_GROUPS [HEADER]
measure_wrk() {
  local system=$1 op=$2 model=$3 n=$4 base=$5 path=$6 kind=$7 groups=$8 header=${9:-}
  local slug="$system-$op-${model:-none}-$n"
  local conns=${PHASE_CONNS:-$CONNS} threads=$THREADS
  ((conns < threads)) && threads=$conns
  local args=(-t"$threads" -c"$conns" --timeout 30s --latency -s "$HERE/request.lua")
  [[ -n $header ]] && args+=(-H "$header")
  local busy c0 c1 line
  busy=$(wait_quiet)
  if ((WARMUP > 0)); then
    wrk "${args[@]}" -d"${WARMUP}s" "$base" -- "$path" "$kind" "$n" "$ENTITIES" "$FEATURES" >"$WORK/logs/$slug.warmup" 2>&1 || true
  fi
  # shellcheck disable=SC2086 # groups is a list of NAME=PID words
  c0=$(cpu_now $groups)
  /usr/bin/time -f 'CLIENT_CPU %U %S' -o "$WORK/logs/$slug.time" \
    wrk "${args[@]}" -d"${DURATION}s" "$base" -- "$path" "$kind" "$n" "$ENTITIES" "$FEATURES" >"$WORK/logs/$slug.wrk" 2>&1 ||
    die "wrk failed for $slug: $(tail -3 "$WORK/logs/$slug.wrk")"
  # shellcheck disable=SC2086
  c1=$(cpu_now $groups)
  line=$(grep '^RESULT' "$WORK/logs/$slug.wrk") || die "no RESULT from wrk for $slug"
  record "$system" "$op" "$model" "$n" "$busy" "$line" "$c0" "$c1" \
    "$(awk '/^CLIENT_CPU/ {print $2 + $3}' "$WORK/logs/$slug.time")"
  printf '  %-5s %-7s %-6s %3s entities: %s (background before: %s%%)\n' "$system" "$op" "$model" "$n" "${line#RESULT }" "$busy" >&2
}

# measure_glue MODEL ENTITIES FEAST_URL MLFLOW_URL CPU_GROUPS
measure_glue() {
  local model=$1 n=$2 feast=$3 mlflow=$4 groups=$5
  local slug="glue-predict-$model-$n" busy c0 c1 line
  local args=(--feast "$feast" --mlflow "$mlflow" --entities "$n" --max-id "$ENTITIES" --concurrency "$CONNS")
  busy=$(wait_quiet)
  if ((WARMUP > 0)); then
    "$FPY" "$HERE/glue.py" load "${args[@]}" --duration "$WARMUP" --warmup 0 >"$WORK/logs/$slug.warmup" 2>&1 || true
  fi
  # shellcheck disable=SC2086
  c0=$(cpu_now $groups)
  /usr/bin/time -f 'CLIENT_CPU %U %S' -o "$WORK/logs/$slug.time" \
    "$FPY" "$HERE/glue.py" load "${args[@]}" --duration "$DURATION" --warmup 0 >"$WORK/logs/$slug.out" 2>&1 ||
    die "glue.py failed for $slug: $(tail -3 "$WORK/logs/$slug.out")"
  # shellcheck disable=SC2086
  c1=$(cpu_now $groups)
  line=$(grep '^RESULT' "$WORK/logs/$slug.out") || die "no RESULT from glue.py for $slug"
  record glue predict "$model" "$n" "$busy" "$line" "$c0" "$c1" \
    "$(awk '/^CLIENT_CPU/ {print $2 + $3}' "$WORK/logs/$slug.time")"
  printf '  glue  predict %-6s %3s entities: %s (background before: %s%%)\n' "$model" "$n" "${line#RESULT }" "$busy" >&2
  grep '^ERROR' "$WORK/logs/$slug.out" | head -3 >&2 || true
}

# ---------------------------------------------------------------- data and models
log "data and models (models.py: $ENTITIES entities, scikit-learn $SKLEARN_VERSION)"
"$MPY" "$HERE/models.py" "$WORK/models" --entities "$ENTITIES" >"$WORK/logs/models.json" 2>"$WORK/logs/models.log" ||
  die "models.py failed: $(tail -5 "$WORK/logs/models.log")"
EXPECTED=$WORK/models/expected.json
TS=$(jq -r .timestamp "$EXPECTED")
MAT_START=$(date -u -d "$TS - 1 day" '+%Y-%m-%dT%H:%M:%SZ')
MAT_END=$(date -u -d "$TS + 1 hour" '+%Y-%m-%dT%H:%M:%SZ')
CHECK_IDS=$(jq -c .ids "$EXPECTED")
delete_keys >/dev/null

# ---------------------------------------------------------------- Lathe
# api METHOD URL TOKEN [BODY|@FILE] [CONTENT_TYPE]: one call; dies unless 2xx; prints the answer.
api() {
  local method=$1 url=$2 token=$3 body=${4:-} type=${5:-application/json} out code
  out=$(mktemp)
  local args=(-s -o "$out" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $token")
  if [[ $body == @* ]]; then
    args+=(-H "Content-Type: $type" --data-binary "$body")
  elif [[ -n $body ]]; then
    args+=(-H "Content-Type: $type" -d "$body")
  fi
  code=$(curl "${args[@]}" "$url")
  if [[ $code != 2?? ]]; then
    echo "$method $url answered $code: $(head -c 500 "$out")" >&2
    rm -f "$out"
    return 1
  fi
  cat "$out"
  rm -f "$out"
}

bench_lathe() {
  log "Lathe: standalone, online store Redis db $DB (key prefix $KEY_PREFIX)"
  local data=$WORK/lathe-data port base token auth
  mkdir -p "$data/objects/features/data" "$WORK/lathe-repo"
  cp "$WORK/models/data/features.parquet" "$data/objects/features/data/"
  port=$(free_port)
  export LATHE_TELEMETRY__LOG_FILTER=warn
  export LATHE_FEATURES__ONLINE_STORE__URL=redis://127.0.0.1:6379/$DB
  export LATHE_FEATURES__ONLINE_STORE__KEY_PREFIX=$KEY_PREFIX
  export LATHE_REGISTRY__GRPC_ADDR=127.0.0.1:0 LATHE_FEATURES__GRPC_ADDR=127.0.0.1:0
  export LATHE_ORCHESTRATOR__GRPC_ADDR=127.0.0.1:0 LATHE_MONITOR__GRPC_ADDR=127.0.0.1:0
  export LATHE_SERVING__GRPC_ADDR=127.0.0.1:0
  "$LATHE" standalone --data-dir "$data" --http-addr "127.0.0.1:$port" >"$WORK/logs/lathe.log" 2>&1 &
  LATHE_PID=$!
  base=http://127.0.0.1:$port
  wait_http "$base/readyz" 120 || die "Lathe did not become ready: $(tail -5 "$WORK/logs/lathe.log")"
  token=$("$LATHE" token create --data-dir "$data" --subject bench --role admin)
  auth="Authorization: Bearer $token"
  local p=$base/api/v1/projects/$PROJECT
  api POST "$base/api/v1/projects" "$token" "{\"name\":\"$PROJECT\"}" >/dev/null || die "cannot create project"
  cat >"$WORK/lathe-repo/features.yaml" <<EOF
entities:
  - name: driver
    join_keys: [{name: driver_id, type: int64}]
sources:
  - name: stats_source
    file: {path: data/features.parquet}
    created_timestamp_field: created
feature_views:
  - name: stats
    entities: [driver]
    source: stats_source
    ttl: 30d
    schema:
      - {name: f0, type: float32}
      - {name: f1, type: float32}
      - {name: f2, type: float32}
EOF
  export LATHE_URL=$base LATHE_PROJECT=$PROJECT LATHE_TOKEN=$token
  "$LATHE" features apply "$WORK/lathe-repo" >"$WORK/logs/lathe-apply.log" 2>&1 ||
    die "lathe features apply failed: $(tail -5 "$WORK/logs/lathe-apply.log")"
  "$LATHE" features materialize --start "$MAT_START" --end "$MAT_END" --view stats \
    >"$WORK/logs/lathe-materialize.json" 2>"$WORK/logs/lathe-materialize.log" ||
    die "lathe features materialize failed: $(tail -5 "$WORK/logs/lathe-materialize.log")"
  echo "Lathe materialized $("$FPY" "$HERE/redis_keys.py" count "$DB" "$KEY_PREFIX:*") keys into Redis db $DB" >>"$NOTES"

  log "Lathe: register and deploy"
  local exp run version model
  exp=$(api POST "$p/experiments" "$token" '{"name":"serving-bench"}' | jq -r .experiment_id) || die "cannot create experiment"
  api POST "$p/models" "$token" "{\"name\":\"$MODEL\"}" >/dev/null || die "cannot create model"
  for model in "${MODELS[@]}"; do
    run=$(api POST "$p/runs" "$token" "{\"experiment_id\":\"$exp\",\"name\":\"$model\"}" | jq -r .run_id) || die "cannot create run"
    api PUT "$p/runs/$run/artifacts/model/model.onnx" "$token" "@$WORK/models/$model/model.onnx" application/octet-stream >/dev/null ||
      die "cannot upload $model's model.onnx"
    version=$(api POST "$p/models/$MODEL/versions" "$token" \
      "{\"run_id\":\"$run\",\"artifact_path\":\"model\",\"signature\":{\"inputs\":[\"stats:f0\",\"stats:f1\",\"stats:f2\"],\"output\":\"label\"}}" |
      jq -r .version) || die "cannot create $model's version"
    api PUT "$p/models/$MODEL/aliases/$model" "$token" "{\"version\":$version}" >/dev/null || die "cannot set alias $model"
    api POST "$p/deployments" "$token" "{\"model\":\"$MODEL\",\"name\":\"$model\",\"alias\":\"$model\"}" \
      >"$WORK/out/lathe-deployment-$model.json" || die "cannot deploy $model"
    echo "Lathe deployment $model: version $(jq -r .serving.version "$WORK/out/lathe-deployment-$model.json"), inputs $(jq -c .serving.inputs "$WORK/out/lathe-deployment-$model.json")" >>"$NOTES"
  done

  log "Lathe: checks (100 entities against scikit-learn)"
  api POST "$p/features/online" "$token" "{\"features\":[\"stats:f0\",\"stats:f1\",\"stats:f2\"],\"entities\":{\"driver_id\":$CHECK_IDS}}" \
    >"$WORK/out/lathe-online.json" || die "Lathe's online read failed"
  echo "{\"check\":\"lathe online\",\"result\":$("$FPY" "$HERE/check.py" lathe-online "$EXPECTED" "$WORK/out/lathe-online.json")}" >>"$CHECKS"
  for model in "${MODELS[@]}"; do
    api POST "$p/predict/$model" "$token" "{\"entities\":{\"driver_id\":$CHECK_IDS},\"include_features\":true}" \
      >"$WORK/out/lathe-predict-$model.json" || die "Lathe's predict on $model failed"
    echo "{\"check\":\"lathe predict $model\",\"result\":$("$FPY" "$HERE/check.py" lathe-predict "$EXPECTED" "$model" "$WORK/out/lathe-predict-$model.json")}" >>"$CHECKS"
  done

  log "Lathe: load (wrk -t$THREADS -c$CONNS, ${DURATION}s after ${WARMUP}s)"
  local groups="lathe=$LATHE_PID redis=$REDIS_PID" n
  for n in "${SIZES[@]}"; do
    measure_wrk lathe online "" "$n" "$base" "/api/v1/projects/$PROJECT/features/online" online "$groups" "$auth"
    for model in "${MODELS[@]}"; do
      measure_wrk lathe predict "$model" "$n" "$base" "/api/v1/projects/$PROJECT/predict/$model" predict "$groups" "$auth"
    done
  done
  # The same calls one at a time (wrk -t1 -c1): the latency of a call without queueing.
  log "Lathe: one request at a time (wrk -t1 -c1)"
  for n in "${SIZES[@]}"; do
    PHASE_CONNS=1 measure_wrk lathe online-c1 "" "$n" "$base" "/api/v1/projects/$PROJECT/features/online" online "$groups" "$auth"
    for model in "${MODELS[@]}"; do
      PHASE_CONNS=1 measure_wrk lathe predict-c1 "$model" "$n" "$base" "/api/v1/projects/$PROJECT/predict/$model" predict "$groups" "$auth"
    done
  done
  kill "$LATHE_PID" 2>/dev/null || true
  wait "$LATHE_PID" 2>/dev/null || true
  LATHE_PID=""
  unset LATHE_URL LATHE_PROJECT LATHE_TOKEN
}

# ---------------------------------------------------------------- the glue
bench_glue() {
  log "Feast $FEAST_VERSION: repository on Redis db $DB, materialize"
  local repo=$WORK/feast-repo
  "$FPY" "$HERE/feast_repo.py" "$repo" "$WORK/models/data/features.parquet" --redis-db "$DB" \
    --project "$FEAST_PROJECT" --start "$MAT_START" --end "$MAT_END" >"$WORK/logs/feast-setup.json" 2>"$WORK/logs/feast-setup.log" ||
    die "Feast setup failed: $(tail -5 "$WORK/logs/feast-setup.log")"
  echo "Feast materialized $("$FPY" "$HERE/redis_keys.py" count "$DB" "*$FEAST_PROJECT") keys into Redis db $DB" >>"$NOTES"

  local fport fbase
  fport=$(free_port)
  (cd "$repo" && exec setsid "$FEAST_VENV/bin/feast" serve -h 127.0.0.1 -p "$fport" -w "$GLUE_WORKERS" \
    --no-access-log --max-requests 0 >"$WORK/logs/feast-serve.log" 2>&1) &
  FEAST_PID=$!
  fbase=http://127.0.0.1:$fport
  wait_http "$fbase/health" 120 || die "feast serve did not start: $(tail -5 "$WORK/logs/feast-serve.log")"
  sleep 2
  echo "feast serve: $(pgrep -P "$FEAST_PID" | wc -l) worker process(es) under the gunicorn master (-w $GLUE_WORKERS --no-access-log --max-requests 0)" >>"$NOTES"

  log "Feast: online read alone (wrk -t$THREADS -c$CONNS)"
  local n model
  for n in "${SIZES[@]}"; do
    measure_wrk feast online "" "$n" "$fbase" /get-online-features online "feast=$FEAST_PID redis=$REDIS_PID"
  done

  for model in "${MODELS[@]}"; do
    log "MLflow $MLFLOW_VERSION: mlflow models serve of $model (-w $GLUE_WORKERS)"
    local mport mbase
    mport=$(free_port)
    # mlflow starts `uvicorn` from PATH; UVICORN_ACCESS_LOG=false is uvicorn's --no-access-log
    # (feast serve gets --no-access-log too), so neither server writes a line per request.
    (export PATH=$MLFLOW_VENV/bin:$PATH UVICORN_ACCESS_LOG=false && exec setsid "$MLFLOW_VENV/bin/mlflow" models serve -m "$WORK/models/$model/mlflow" --env-manager local \
      -h 127.0.0.1 -p "$mport" -w "$GLUE_WORKERS" >"$WORK/logs/mlflow-serve-$model.log" 2>&1) &
    MLFLOW_PID=$!
    mbase=http://127.0.0.1:$mport
    wait_http "$mbase/ping" 180 || die "mlflow models serve did not start: $(tail -5 "$WORK/logs/mlflow-serve-$model.log")"
    sleep 2
    "$FPY" "$HERE/glue.py" check --feast "$fbase" --mlflow "$mbase" --ids "$(jq -r 'map(tostring) | join(",")' <<<"$CHECK_IDS")" \
      >"$WORK/out/glue-$model.json" 2>"$WORK/logs/glue-check-$model.log" || die "the glue's check request failed: $(tail -3 "$WORK/logs/glue-check-$model.log")"
    echo "{\"check\":\"glue $model\",\"result\":$("$FPY" "$HERE/check.py" glue "$EXPECTED" "$model" "$WORK/out/glue-$model.json")}" >>"$CHECKS"
    log "glue: Feast online read + MLflow /invocations ($model, $CONNS concurrent)"
    for n in "${SIZES[@]}"; do
      measure_glue "$model" "$n" "$fbase" "$mbase" "feast=$FEAST_PID mlflow=$MLFLOW_PID redis=$REDIS_PID"
    done
    stop_group "$MLFLOW_PID"
    MLFLOW_PID=""
  done
  stop_group "$FEAST_PID"
  FEAST_PID=""
}

START=$(date -u '+%Y-%m-%d %H:%M UTC')
T_START=$(now)
if [[ ${BENCH_SKIP_LATHE:-0} != 1 ]]; then bench_lathe; fi
if [[ ${BENCH_SKIP_GLUE:-0} != 1 ]]; then bench_glue; fi
echo "Redis keys deleted at the end: $(delete_keys)" >>"$NOTES"

log "report"
cat "$CHECKS" >&2
CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
"$FPY" "$HERE/report.py" "$RESULTS" "$CHECKS" "$NOTES" \
  --started "$START" --minutes "$(awk -v a="$T_START" -v b="$(now)" 'BEGIN{printf "%.1f", (b-a)/60}')" \
  --lathe "$LATHE_COMMIT" --feast "$FEAST_VERSION" --mlflow "$MLFLOW_VERSION" --sklearn "$SKLEARN_VERSION" \
  --redis "$REDIS_VERSION" --redis-db "$DB" --duration "$DURATION" --warmup "$WARMUP" --conns "$CONNS" \
  --threads "$THREADS" --entities "$ENTITIES" --glue-workers "$GLUE_WORKERS" --quiet-wait "$QUIET_WAIT" \
  --machine "$CPU_MODEL, $NCPU cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)" | tee "$WORK/results.md"
