#!/usr/bin/env bash
# Feature-store benchmark: Lathe vs Feast (PyPI) vs plain DuckDB, on the same data, the same
# Redis, one after the other, all traffic on loopback. One command, idempotent:
#
#     scripts/bench/features/run.sh
#
# What it does, in order (details and results: docs/benchmarks.md, "Feature store"):
#   1. installs wrk and redis-benchmark (Debian packages) if missing, and Feast (feast[redis]),
#      duckdb, pyarrow and pandas (PyPI) into .tools/feast-venv; builds
#      `cargo build --release -p lathe`;
#   2. gen.py writes the data (fixed seed): driver_stats.parquet (10,000 drivers x 100 hourly
#      rows = 1M rows), entities.parquet (100,000 entity rows), driver_stats_mat.parquet
#      (1,000,000 distinct drivers, one row each);
#   3. the physical reference: redis-benchmark pipelined HSET (built-in, and one shaped like an
#      entity row) and SET of a 48-byte value, on the benchmark's Redis db;
#   4. DuckDB: ASOF LEFT JOIN with the same point-in-time semantics, result to Parquet;
#   5. Lathe (`lathe standalone`, online store on Redis): historical retrieval through
#      `lathe features historical`, materialization of 1M entities through
#      `lathe features materialize`, online serving through `POST /get-online-features`
#      (1 entity and 100 entities x 3 features) with wrk;
#   6. Feast: the same with the file (dask) offline store, `store.materialize`, `feast serve`;
#   7. checks every historical output against DuckDB's (and DuckDB's against a brute-force
#      lookup), every online answer against the source file; prints the Markdown tables (also
#      written to .tools/bench-features/results.md); stops the servers, flushes the Redis db.
#
# Knobs (environment): BENCH_DURATION (s per online row, default 10), BENCH_WARMUP (s of wrk
# warm-up, default 2), BENCH_REPEATS (timed historical runs after one warm-up, default 5),
# BENCH_FEAST_REPEATS (the same for Feast, whose runs take 10-40 s each, default 3),
# BENCH_REDIS_DB (default 14; flushed before each system's phase and at the end),
# BENCH_SKIP_FEAST=1, BENCH_LATHE_BIN (use this binary instead of building), BENCH_THREADS (wrk
# threads, default 2; the connections stay 8),
# BENCH_QUIET_WAIT (s to wait before each phase for other processes to use under 25% CPU,
# default 120), BENCH_FEAST_SERVE_ARGS (extra `feast serve` flags, default
# `--max-requests 0`, see the docs), BENCH_ENTITY_ROWS / BENCH_MAT_ENTITIES (data sizes, for
# quick trial runs only). A row whose output fails a check, or whose load had any non-2xx
# answer or socket error, is reported as INVALID.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
TOOLS=$ROOT/.tools
WORK=$TOOLS/bench-features
VENV=$TOOLS/feast-venv
PY=$VENV/bin/python
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
REPEATS=${BENCH_REPEATS:-5}
FEAST_REPEATS=${BENCH_FEAST_REPEATS:-3}
DB=${BENCH_REDIS_DB:-14}
ENTITY_ROWS=${BENCH_ENTITY_ROWS:-100000}
MAT_ENTITIES=${BENCH_MAT_ENTITIES:-1000000}
FEAST_SERVE_ARGS=${BENCH_FEAST_SERVE_ARGS-"--max-requests 0"}
TTL_HOURS=24
CONNS=8
THREADS=${BENCH_THREADS:-2}
PROJECT=bench
FEATURES=driver_stats:conv_rate,driver_stats:acc_rate,driver_stats:avg_daily_trips
ONLINE_FEATURES=driver_stats_mat:conv_rate,driver_stats_mat:acc_rate,driver_stats_mat:avg_daily_trips
REDIS=(redis-cli -h 127.0.0.1 -p 6379 -n "$DB")

log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

rm -rf "$WORK"
mkdir -p "$WORK/logs" "$WORK/out"
RESULTS=$WORK/results.jsonl # one JSON object per measured row: system, op, busy, result
: >"$RESULTS"
CHECKS=$WORK/checks.jsonl # one JSON object per correctness check
: >"$CHECKS"
NOTES=$WORK/notes.txt
: >"$NOTES"

LATHE_PID=""
FEAST_PID=""
cleanup() {
  set +e
  [[ -n $LATHE_PID ]] && kill "$LATHE_PID" 2>/dev/null && wait "$LATHE_PID" 2>/dev/null
  # feast serve runs gunicorn workers as children: it was started in its own process group.
  [[ -n $FEAST_PID ]] && kill -- "-$FEAST_PID" 2>/dev/null && wait "$FEAST_PID" 2>/dev/null
  LATHE_PID="" FEAST_PID=""
  "${REDIS[@]}" flushdb >/dev/null 2>&1
  rm -rf "$WORK/lathe-data/objects/features/data"
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

flush() { "${REDIS[@]}" flushdb >/dev/null || die "cannot FLUSHDB db $DB"; }
dbsize() { "${REDIS[@]}" dbsize; }
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.4f", b-a}'; }

# row_start / row_background: the CPU that processes outside this benchmark used while a row
# ran, in percent of all cores: all busy time (/proc/stat) minus the CPU of this script's
# process tree (servers, clients, Python) and of Redis. A neighbour that starts mid-row shows
# here, where wait_quiet's reading before the row cannot see it.
HZ=$(getconf CLK_TCK)
NCPU=$(nproc)
total_busy() {
  local a
  read -r -a a </proc/stat
  echo $((a[1] + a[2] + a[3] + a[8])) # user nice system steal: softirq work for our loopback traffic is not attributed to our processes
}
our_cpu() { "$PY" "$HERE/cpu.py" "$$" "$REDIS_PID"; }
row_start() {
  ROW_T0=$(now)
  ROW_B0=$(total_busy)
  ROW_O0=$(our_cpu)
}
row_background() {
  local t1 b1 o1
  t1=$(now)
  b1=$(total_busy)
  o1=$(our_cpu)
  awk -v t0="$ROW_T0" -v t1="$t1" -v b0="$ROW_B0" -v b1="$b1" -v o0="$ROW_O0" -v o1="$o1" -v hz="$HZ" -v n="$NCPU" \
    'BEGIN { bg = ((b1 - b0) / hz - (o1 - o0)) / ((t1 - t0) * n) * 100; printf "%d", bg < 0 ? 0 : bg }'
}

# record SYSTEM OP BUSY JSON: one measured row (row_start must have run when it began).
record() {
  printf '{"system":"%s","op":"%s","busy":%s,"bg_during":%s,"result":%s}\n' "$1" "$2" "$3" "$(row_background)" "$4" >>"$RESULTS"
}
# record_check NAME JSON
record_check() { printf '{"check":"%s","result":%s}\n' "$1" "$2" >>"$CHECKS"; }

# ---------------------------------------------------------------- tools and build
log "tools"
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v redis-benchmark >/dev/null || missing+=(redis-tools)
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v wrk >/dev/null || die "wrk is not installed and apt-get could not install it"
command -v redis-benchmark >/dev/null || die "redis-benchmark is not installed and apt-get could not install it"
[[ $("${REDIS[@]}" ping 2>/dev/null) == PONG ]] || die "Redis is not answering on 127.0.0.1:6379"
REDIS_PID=$("${REDIS[@]}" info server | awk -F: '/^process_id:/ {print $2}' | tr -d '\r')
REDIS_VERSION=$("${REDIS[@]}" info server | awk -F: '/^redis_version:/ {print $2}' | tr -d '\r')

FEAST_STATUS=ok
if ! "$PY" -c 'import feast, duckdb, pyarrow, pandas, numpy' 2>/dev/null; then
  log "installing feast[redis], duckdb, pyarrow, pandas into .tools/feast-venv"
  if ! { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q 'feast[redis]' duckdb pyarrow pandas; } >"$WORK/logs/pip.log" 2>&1; then
    "$VENV/bin/pip" install -q duckdb pyarrow pandas numpy >>"$WORK/logs/pip.log" 2>&1 ||
      die "could not install duckdb/pyarrow into .tools/feast-venv (see .tools/bench-features/logs/pip.log)"
    FEAST_STATUS="could not be installed (see .tools/bench-features/logs/pip.log)"
  fi
fi
if [[ ${BENCH_SKIP_FEAST:-0} == 1 ]]; then
  FEAST_STATUS="skipped (BENCH_SKIP_FEAST=1)"
fi
[[ $FEAST_STATUS == ok ]] && FEAST_VERSION=$("$PY" -c 'import feast; print(feast.__version__)')
export FEAST_USAGE=False

# The commit the binary comes from: taken before building (others may commit during the run).
COMMIT="$(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- services libs proto || echo '+dirty')"
LATHE_COMMIT="commit \`$COMMIT\`, \`cargo build --release -p lathe\`"
if [[ -n ${BENCH_LATHE_BIN:-} ]]; then
  LATHE=$BENCH_LATHE_BIN
  LATHE_COMMIT="\`$BENCH_LATHE_BIN\` (given with BENCH_LATHE_BIN; the tree was at \`$COMMIT\` when the run started)"
else
  log "cargo build --release -p lathe"
  (cd "$ROOT" && cargo build --release -p lathe)
  LATHE=$ROOT/target/release/lathe
fi
[[ -x $LATHE ]] || die "no Lathe binary at $LATHE"

# ---------------------------------------------------------------- measuring
# busy_pct: CPU busy (all cores, percent) over the next second, read from /proc/stat.
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

# wait_quiet: the machine is shared (2 cores). Before a phase, wait (up to BENCH_QUIET_WAIT s,
# default 120) until other processes use under 25% of the CPU; print the last reading.
wait_quiet() {
  local busy waited=0
  busy=$(busy_pct)
  while ((busy >= 25 && waited < ${BENCH_QUIET_WAIT:-120})); do
    sleep 4
    waited=$((waited + 5))
    busy=$(busy_pct)
  done
  echo "$busy"
}

# timed_runs SYSTEM OP N_WARMUP N_TIMED CMD...: runs CMD (warm-up, then timed) and records
# the wall time of each run; a failing run aborts the row as INVALID.
timed_runs() {
  local system=$1 op=$2 warm=$3 timed=$4
  shift 4
  local busy i t0 t1 secs=() warmups=() slug="${system}-${op}"
  busy=$(wait_quiet)
  row_start
  for ((i = 0; i < warm + timed; i++)); do
    t0=$(now)
    if ! "$@" >"$WORK/logs/$slug.$i.log" 2>&1; then
      record "$system" "$op" "$busy" "{\"error\":\"run $i failed: see .tools/bench-features/logs/$slug.$i.log\"}"
      printf '  %s %s: run %d FAILED: %s\n' "$system" "$op" "$i" "$(tail -2 "$WORK/logs/$slug.$i.log")" >&2
      return 0
    fi
    t1=$(now)
    if ((i < warm)); then warmups+=("$(elapsed "$t0" "$t1")"); else secs+=("$(elapsed "$t0" "$t1")"); fi
  done
  local IFS=,
  record "$system" "$op" "$busy" "{\"seconds\":[${secs[*]}],\"warmup\":[${warmups[*]}]}"
  printf '  %s %s: %s s (warm-up %s s)\n' "$system" "$op" "${secs[*]}" "${warmups[*]}" >&2
}

# measure_online SYSTEM ENTITIES BASE_URL PID [HEADER]: wrk with online.lua; records requests,
# latency and the server's CPU seconds (process tree of PID) and Redis's during the window.
measure_online() {
  local system=$1 n=$2 base=$3 pid=$4 header=${5:-}
  local slug="${system}-online-${n}"
  local args=(-t"$THREADS" -c"$CONNS" --timeout 30s --latency -s "$HERE/online.lua")
  [[ -n $header ]] && args+=(-H "$header")
  local busy
  busy=$(wait_quiet)
  if ((WARMUP > 0)); then
    wrk "${args[@]}" -d"${WARMUP}s" "$base" -- /get-online-features "$ONLINE_FEATURES" "$n" "$MAT_ENTITIES" \
      >"$WORK/logs/$slug.warmup" 2>&1 || true
  fi
  local c0 r0 c1 r1
  row_start
  c0=$("$PY" "$HERE/cpu.py" "$pid")
  r0=$("$PY" "$HERE/cpu.py" "$REDIS_PID")
  wrk "${args[@]}" -d"${DURATION}s" "$base" -- /get-online-features "$ONLINE_FEATURES" "$n" "$MAT_ENTITIES" \
    >"$WORK/logs/$slug.wrk" 2>&1 || die "wrk failed for $slug: $(tail -3 "$WORK/logs/$slug.wrk")"
  c1=$("$PY" "$HERE/cpu.py" "$pid")
  r1=$("$PY" "$HERE/cpu.py" "$REDIS_PID")
  local line
  line=$(grep '^RESULT' "$WORK/logs/$slug.wrk") || die "no RESULT from wrk for $slug"
  local -A r
  local kv
  for kv in ${line#RESULT }; do r[${kv%%=*}]=${kv#*=}; done
  local errors=$((r[non2xx] + r[connect] + r[read] + r[write] + r[timeout]))
  record "$system" "online-$n" "$busy" "$(printf '{"requests":%s,"duration_us":%s,"p50_us":%s,"p90_us":%s,"p99_us":%s,"max_us":%s,"errors":%s,"server_cpu_s":%s,"redis_cpu_s":%s}' \
    "${r[requests]}" "${r[duration_us]}" "${r[p50_us]}" "${r[p90_us]}" "${r[p99_us]}" "${r[max_us]}" "$errors" \
    "$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b-a}')" "$(awk -v a="$r0" -v b="$r1" 'BEGIN{printf "%.2f", b-a}')")"
  printf '  %-8s online %3s entities: %s server_cpu=%.2fs background_cpu=%s%%\n' "$system" "$n" "${line#RESULT }" \
    "$(awk -v a="$c0" -v b="$c1" 'BEGIN{print b-a}')" "$busy" >&2
}

# online_sample SYSTEM URL [TOKEN]: saves one answer to the check body, checked later.
online_sample() {
  if ! "$PY" "$HERE/check.py" online-fetch "$2" "$WORK/online-sample.json" "$WORK/out/$1-online-sample.json" ${3:+"$3"} \
    2>"$WORK/logs/$1-online-sample.log"; then
    echo "$1 online sample request failed: $(tail -1 "$WORK/logs/$1-online-sample.log")" >>"$NOTES"
  fi
}

# ---------------------------------------------------------------- data
log "data (gen.py)"
"$PY" "$HERE/gen.py" "$WORK/data" --entity-rows "$ENTITY_ROWS" --mat-entities "$MAT_ENTITIES" \
  --ttl-hours "$TTL_HOURS" >"$WORK/logs/gen.json"
LAST=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["last"])' "$WORK/data/meta.json")
MAT_START=$("$PY" -c 'import datetime as d,sys; print((d.datetime.fromisoformat(sys.argv[1]) - d.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"))' "$LAST")
MAT_END=$("$PY" -c 'import datetime as d,sys; print((d.datetime.fromisoformat(sys.argv[1]) + d.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))' "$LAST")
# The online check asks for 100 known ids spread over 1..MAT_ENTITIES.
"$PY" -c '
import json, sys
n = int(sys.argv[1])
ids = sorted({1 + (i * 9973) % n for i in range(99)} | {n})
print(json.dumps({"features": sys.argv[2].split(","), "entities": {"driver_id": ids}}))
' "$MAT_ENTITIES" "$ONLINE_FEATURES" >"$WORK/online-sample.json"

# ---------------------------------------------------------------- Redis reference
# redis_csv FILE: the last line of redis-benchmark --csv output as JSON (rate, p50, p99).
redis_csv() {
  "$PY" -c 'import csv,json,sys; r=list(csv.reader(open(sys.argv[1])))[-1]; print(json.dumps({"rps":float(r[1]),"p50_ms":float(r[4]),"p99_ms":float(r[6])}))' "$1"
}

bench_redis() {
  log "Redis reference: redis-benchmark -P 64 -n $MAT_ENTITIES -r $MAT_ENTITIES"
  local busy common=(-h 127.0.0.1 -p 6379 --dbnum "$DB" -P 64 -n "$MAT_ENTITIES" -r "$MAT_ENTITIES" --csv)
  local row=(bench:__rand_int__ _ts 1700000000000000 _created 1700000000000000
    conv_rate xxxxx acc_rate xxxxx avg_daily_trips xxxxxxxxx)
  busy=$(wait_quiet)
  row_start
  flush
  redis-benchmark "${common[@]}" -t hset >"$WORK/logs/redis-hset.csv" 2>&1 || die "redis-benchmark -t hset failed"
  record redis hset-builtin "$busy" "$(redis_csv "$WORK/logs/redis-hset.csv")"
  flush
  busy=$(wait_quiet)
  row_start
  redis-benchmark "${common[@]}" hset "${row[@]}" >"$WORK/logs/redis-hset-row.csv" 2>&1 || die "redis-benchmark hset (row) failed"
  record redis hset-row "$busy" "$(redis_csv "$WORK/logs/redis-hset-row.csv")"
  echo "redis-benchmark row-shaped HSET left $(dbsize) distinct keys (random ids in 0..$((MAT_ENTITIES - 1)))" >>"$NOTES"
  flush
  # One string per entity (a ~48-byte encoded row), as a store that keeps rows as blobs does.
  busy=$(wait_quiet)
  row_start
  redis-benchmark "${common[@]}" -t set -d 48 >"$WORK/logs/redis-set.csv" 2>&1 || die "redis-benchmark -t set failed"
  record redis set-48 "$busy" "$(redis_csv "$WORK/logs/redis-set.csv")"
  flush
}

# ---------------------------------------------------------------- DuckDB
bench_duckdb() {
  log "DuckDB ASOF LEFT JOIN"
  local busy out
  busy=$(wait_quiet)
  row_start
  if out=$("$PY" "$HERE/duckdb_bench.py" "$WORK/data/driver_stats.parquet" "$WORK/data/entities.parquet" \
    "$WORK/out/duckdb.parquet" --ttl-hours "$TTL_HOURS" --warmup 1 --repeats "$REPEATS" 2>"$WORK/logs/duckdb.log"); then
    record duckdb historical "$busy" "$out"
    printf '  duckdb historical: %s\n' "$out" >&2
  else
    die "DuckDB failed (the reference of every check): $(tail -3 "$WORK/logs/duckdb.log")"
  fi
}

# ---------------------------------------------------------------- Lathe
bench_lathe() {
  log "Lathe: standalone on Redis db $DB"
  local data=$WORK/lathe-data port
  rm -rf "$data"
  mkdir -p "$data/objects/features/data" "$WORK/lathe-repo"
  cp "$WORK/data/driver_stats.parquet" "$WORK/data/driver_stats_mat.parquet" "$data/objects/features/data/"
  flush
  port=$(free_port)
  export LATHE_TELEMETRY__LOG_FILTER=warn
  export LATHE_FEATURES__ONLINE_STORE__URL=redis://127.0.0.1:6379/$DB
  export LATHE_FEATURES__ONLINE_STORE__KEY_PREFIX=lathe
  export LATHE_GATEWAY__FEAST_PROJECT=$PROJECT
  export LATHE_REGISTRY__GRPC_ADDR=127.0.0.1:0 LATHE_FEATURES__GRPC_ADDR=127.0.0.1:0
  export LATHE_ORCHESTRATOR__GRPC_ADDR=127.0.0.1:0 LATHE_MONITOR__GRPC_ADDR=127.0.0.1:0
  "$LATHE" standalone --data-dir "$data" --http-addr "127.0.0.1:$port" >"$WORK/logs/lathe.log" 2>&1 &
  LATHE_PID=$!
  local base=http://127.0.0.1:$port
  wait_http "$base/readyz" 120 || die "Lathe did not become ready: $(tail -5 "$WORK/logs/lathe.log")"
  local token
  token=$("$LATHE" token create --data-dir "$data" --subject bench --role admin)
  local auth="Authorization: Bearer $token"
  local code
  code=$(curl -s -o "$WORK/logs/lathe-project.json" -w '%{http_code}' -H "$auth" -H 'Content-Type: application/json' \
    -d "{\"name\":\"$PROJECT\"}" "$base/api/v1/projects")
  [[ $code == 2?? ]] || die "creating project $PROJECT answered $code: $(cat "$WORK/logs/lathe-project.json")"
  cat >"$WORK/lathe-repo/features.yaml" <<EOF
entities:
  - name: driver
    join_keys: [{name: driver_id, type: int64}]
sources:
  - name: driver_stats_source
    file: {path: data/driver_stats.parquet}
    created_timestamp_field: created
  - name: driver_stats_mat_source
    file: {path: data/driver_stats_mat.parquet}
    created_timestamp_field: created
feature_views:
  - name: driver_stats
    entities: [driver]
    source: driver_stats_source
    ttl: ${TTL_HOURS}h
    schema:
      - {name: conv_rate, type: float32}
      - {name: acc_rate, type: float32}
      - {name: avg_daily_trips, type: int64}
  - name: driver_stats_mat
    entities: [driver]
    source: driver_stats_mat_source
    ttl: ${TTL_HOURS}h
    schema:
      - {name: conv_rate, type: float32}
      - {name: acc_rate, type: float32}
      - {name: avg_daily_trips, type: int64}
EOF
  export LATHE_URL=$base LATHE_PROJECT=$PROJECT LATHE_TOKEN=$token
  "$LATHE" features apply "$WORK/lathe-repo" >"$WORK/logs/lathe-apply.log" 2>&1 ||
    die "lathe features apply failed: $(tail -5 "$WORK/logs/lathe-apply.log")"

  log "Lathe: historical retrieval ($ENTITY_ROWS entity rows x 3 features), 1 warm-up + $REPEATS"
  timed_runs lathe historical 1 "$REPEATS" "$LATHE" features historical --entities "$WORK/data/entities.parquet" \
    --features "$FEATURES" --out "$WORK/out/lathe.parquet"

  log "Lathe: materialize $MAT_ENTITIES entities into Redis"
  flush
  local busy t0 t1
  busy=$(wait_quiet)
  row_start
  t0=$(now)
  if "$LATHE" features materialize --start "$MAT_START" --end "$MAT_END" --view driver_stats_mat \
    >"$WORK/logs/lathe-materialize.json" 2>"$WORK/logs/lathe-materialize.log"; then
    t1=$(now)
    record lathe materialize "$busy" "{\"seconds\":$(elapsed "$t0" "$t1"),\"keys\":$(dbsize),\"answer\":$(tr -d '\n' <"$WORK/logs/lathe-materialize.json")}"
    printf '  lathe materialize: %s s, %s keys\n' "$(elapsed "$t0" "$t1")" "$(dbsize)" >&2
  else
    record lathe materialize "$busy" "{\"error\":\"lathe features materialize failed: see .tools/bench-features/logs/lathe-materialize.log\"}"
  fi

  log "Lathe: online serving, POST /get-online-features"
  online_sample lathe "$base/get-online-features" "$token"
  measure_online lathe 1 "$base" "$LATHE_PID" "$auth"
  measure_online lathe 100 "$base" "$LATHE_PID" "$auth"

  kill "$LATHE_PID" 2>/dev/null || true
  wait "$LATHE_PID" 2>/dev/null || true
  LATHE_PID=""
  unset LATHE_URL LATHE_PROJECT LATHE_TOKEN
  flush
}

# ---------------------------------------------------------------- Feast
bench_feast() {
  log "Feast $FEAST_VERSION: repository (file offline store, Redis online store db $DB)"
  local repo=$WORK/feast-repo
  "$PY" "$HERE/feast_bench.py" setup "$repo" "$WORK/data" --redis-db "$DB" --ttl-hours "$TTL_HOURS" \
    >"$WORK/logs/feast-setup.log" 2>&1 || die "feast apply failed: $(tail -5 "$WORK/logs/feast-setup.log")"

  log "Feast: historical retrieval, 1 warm-up + $FEAST_REPEATS (each ~10-40 s)"
  local busy out
  busy=$(wait_quiet)
  row_start
  if out=$("$PY" "$HERE/feast_bench.py" historical "$repo" "$WORK/data/entities.parquet" "$WORK/out/feast.parquet" \
    --warmup 1 --repeats "$FEAST_REPEATS" 2>"$WORK/logs/feast-historical.log" | tee "$WORK/logs/feast-historical.out" | tail -n1); then
    record feast historical "$busy" "$out"
    printf '  feast historical: %s\n' "$out" >&2
  else
    record feast historical "$busy" '{"error":"failed: see .tools/bench-features/logs/feast-historical.log"}'
  fi

  log "Feast: materialize $MAT_ENTITIES entities into Redis"
  flush
  busy=$(wait_quiet)
  row_start
  if out=$("$PY" "$HERE/feast_bench.py" materialize "$repo" --start "$MAT_START" --end "$MAT_END" \
    2>"$WORK/logs/feast-materialize.log" | tee "$WORK/logs/feast-materialize.out" | tail -n1); then
    record feast materialize "$busy" "{\"seconds\":$(echo "$out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["seconds"])'),\"keys\":$(dbsize)}"
    printf '  feast materialize: %s, %s keys\n' "$out" "$(dbsize)" >&2
  else
    record feast materialize "$busy" '{"error":"failed: see .tools/bench-features/logs/feast-materialize.log"}'
  fi

  log "Feast: online serving, feast serve $FEAST_SERVE_ARGS"
  local port
  port=$(free_port)
  # shellcheck disable=SC2086 # FEAST_SERVE_ARGS is a list of flags
  (cd "$repo" && exec setsid "$VENV/bin/feast" serve -h 127.0.0.1 -p "$port" --no-access-log $FEAST_SERVE_ARGS \
    >"$WORK/logs/feast-serve.log" 2>&1) &
  FEAST_PID=$!
  local base=http://127.0.0.1:$port
  if ! wait_http "$base/health" 120; then
    FEAST_STATUS="feast serve did not start (see .tools/bench-features/logs/feast-serve.log)"
    return 0
  fi
  sleep 2
  local workers
  workers=$(pgrep -P "$FEAST_PID" | wc -l || true)
  echo "feast serve: $workers worker process(es) under the gunicorn master; flags: --no-access-log $FEAST_SERVE_ARGS" >>"$NOTES"
  online_sample feast "$base/get-online-features"
  measure_online feast 1 "$base" "$FEAST_PID"
  measure_online feast 100 "$base" "$FEAST_PID"

  kill -- "-$FEAST_PID" 2>/dev/null || true
  wait "$FEAST_PID" 2>/dev/null || true
  FEAST_PID=""
  flush
}

START=$(date -u '+%Y-%m-%d %H:%M UTC')
T_START=$(now)
bench_redis
bench_duckdb
bench_lathe
if [[ $FEAST_STATUS == ok ]]; then bench_feast; fi

# ---------------------------------------------------------------- checks and report
log "checks"
outputs=(lathe="$WORK/out/lathe.parquet")
[[ -f $WORK/out/feast.parquet ]] && outputs+=(feast="$WORK/out/feast.parquet")
"$PY" "$HERE/check.py" historical "$WORK/data" "$WORK/out/duckdb.parquet" "${outputs[@]}" --ttl-hours "$TTL_HOURS" \
  2>"$WORK/logs/check-historical.log" | while read -r line; do record_check historical "$line"; done
for system in lathe feast; do
  if [[ -f $WORK/out/$system-online-sample.json ]]; then
    record_check "online-$system" "$("$PY" "$HERE/check.py" online "$WORK/data" "$WORK/out/$system-online-sample.json" "$WORK/online-sample.json")"
  fi
done
cat "$CHECKS" >&2

log "report"
"$PY" "$HERE/report.py" "$RESULTS" "$CHECKS" "$NOTES" "$WORK/data/meta.json" \
  --started "$START" --minutes "$(awk -v a="$T_START" -v b="$(now)" 'BEGIN{printf "%.1f", (b-a)/60}')" \
  --lathe "$LATHE_COMMIT" \
  --feast "${FEAST_VERSION:-n/a}" --feast-status "$FEAST_STATUS" --redis "$REDIS_VERSION" --redis-db "$DB" \
  --duration "$DURATION" --warmup "$WARMUP" --repeats "$REPEATS" --feast-repeats "$FEAST_REPEATS" \
  --feast-serve-args "--no-access-log $FEAST_SERVE_ARGS" --quiet-wait "${BENCH_QUIET_WAIT:-120}" \
  --threads "$THREADS" --conns "$CONNS" | tee "$WORK/results.md"
