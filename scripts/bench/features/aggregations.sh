#!/usr/bin/env bash
# Window-aggregation benchmark: Lathe's aggregated feature view vs the same point-in-time
# aggregation in plain DuckDB, on the same data, one after the other; then online reads of the
# aggregated view vs a plain one. One command, idempotent:
#
#     scripts/bench/features/aggregations.sh
#
# What it does, in order:
#   1. installs wrk (Debian) if missing, and duckdb, pyarrow, pandas, numpy (PyPI) into
#      .tools/feast-venv if they are missing there (the venv run.sh uses; Feast is not needed);
#      builds `cargo build --release -p lathe` unless BENCH_LATHE_BIN names a binary;
#   2. agg_gen.py writes the data (fixed seed) to .tools/bench-agg/data: trips/ (10M events of
#      10,000 drivers over 30 days, shuffled, 8 Parquet files), entities.parquet (100,000 entity
#      rows, ~5% with every window empty), driver_plain.parquet (one row per driver);
#   3. DuckDB (agg_duckdb.py): the four aggregations (fare sum 1 h, trip_id count 1 d, fare mean
#      7 d, fare max 7 d) as one range join, in-process, 1 warm-up + BENCH_REPEATS, peak RSS;
#   4. Lathe (`lathe standalone`, online store on Redis): applies driver_trips (aggregated) and
#      driver_plain (4 float features); times `lathe features historical` of the four
#      aggregations (1 warm-up + BENCH_REPEATS) and reads the server's peak RSS (VmHWM, reset
#      just before the runs); materializes both views up to the last event (the data ends at
#      the current hour); measures online reads, 1 entity x 4 features, of the plain view then
#      the aggregated one with wrk (online.lua, the same endpoint and connections as run.sh);
#   5. checks DuckDB against a brute force, Lathe against DuckDB (agg_check.py), the checker
#      itself on corrupted copies, one online answer of each view (the aggregated one against
#      DuckDB at the moment it was read: its windows end at the read); prints the Markdown
#      table (also written to .tools/bench-agg/results.md); stops the server, flushes the db.
#
# If `lathe features apply` refuses the aggregated view, the Lathe rows say why (the apply
# error) and the plain view is still applied alone, so its online row is measured.
#
# Knobs (environment): BENCH_LATHE_BIN, BENCH_REPEATS (timed historical runs after one warm-up,
# default 5), BENCH_DURATION (s per online row, default 10), BENCH_WARMUP (s of wrk warm-up,
# default 2), BENCH_THREADS (wrk threads, default 2; the connections stay 8), BENCH_REDIS_DB
# (default 13, not run.sh's 14, so the two never flush each other's keys), BENCH_QUIET_WAIT (s to
# wait before each phase for other processes to use under 25% CPU, default 120), and for quick
# trial runs BENCH_AGG_EVENTS (default 10000000), BENCH_AGG_ENTITY_ROWS (default 100000),
# BENCH_AGG_DRIVERS (default 10000). A Lathe row whose output fails a check, or whose load had
# any non-2xx answer or socket error, is reported as INVALID.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
TOOLS=$ROOT/.tools
WORK=$TOOLS/bench-agg
VENV=$TOOLS/feast-venv
PY=$VENV/bin/python
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
REPEATS=${BENCH_REPEATS:-5}
DB=${BENCH_REDIS_DB:-13}
EVENTS=${BENCH_AGG_EVENTS:-10000000}
ENTITY_ROWS=${BENCH_AGG_ENTITY_ROWS:-100000}
DRIVERS=${BENCH_AGG_DRIVERS:-10000}
if [[ -n ${BENCH_LATHE_BIN:-} ]]; then
  LATHE=$BENCH_LATHE_BIN
else
  echo "== cargo build --release -p lathe" >&2
  (cd "$ROOT" && cargo build --release -p lathe)
  LATHE=${CARGO_TARGET_DIR:-$ROOT/target}/release/lathe
fi
CONNS=8
THREADS=${BENCH_THREADS:-2}
PROJECT=bench
AGG_FEATURES=driver_trips:fare_sum_1h,driver_trips:trip_id_count_1d,driver_trips:fare_mean_7d,driver_trips:fare_max_7d
PLAIN_FEATURES=driver_plain:rating,driver_plain:acceptance_rate,driver_plain:avg_fare,driver_plain:tenure_days
REDIS=(redis-cli -h 127.0.0.1 -p 6379 -n "$DB")

log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'aggregations.sh: %s\n' "$*" >&2; exit 1; }

rm -rf "$WORK"
mkdir -p "$WORK/logs" "$WORK/out"
RESULTS=$WORK/results.jsonl # one JSON object per measured row: system, op, busy, result
: >"$RESULTS"
CHECKS=$WORK/checks.jsonl # one JSON object per correctness check
: >"$CHECKS"
NOTES=$WORK/notes.txt
: >"$NOTES"

LATHE_PID=""
cleanup() {
  set +e
  [[ -n $LATHE_PID ]] && kill "$LATHE_PID" 2>/dev/null && wait "$LATHE_PID" 2>/dev/null
  LATHE_PID=""
  [[ $("${REDIS[@]}" ping 2>/dev/null) == PONG ]] && "${REDIS[@]}" flushdb >/dev/null 2>&1
  rm -rf "$WORK/lathe-data/objects/features/trips" "$WORK/lathe-data/objects/features/data"
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
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.4f", b-a}'; }
json_str() { "$PY" -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }
# status_kib PID FIELD: a /proc/PID/status field (VmRSS, VmHWM) in KiB.
# 0 when the process is gone (the row then fails on its own).
status_kib() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# The CPU that processes outside this benchmark used while a row ran, in percent of all
# cores, as in run.sh: all busy time minus this script's process tree and Redis.
HZ=$(getconf CLK_TCK)
NCPU=$(nproc)
REDIS_PID=""
total_busy() {
  local a
  read -r -a a </proc/stat
  echo $((a[1] + a[2] + a[3] + a[8]))
}
our_cpu() { "$PY" "$HERE/cpu.py" "$$" ${REDIS_PID:+"$REDIS_PID"}; }
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
# record_error SYSTEM OP MESSAGE: a row that could not be measured.
record_error() {
  printf '{"system":"%s","op":"%s","busy":0,"bg_during":0,"result":{"error":%s}}\n' "$1" "$2" "$(json_str "$3")" >>"$RESULTS"
}
# record_check NAME JSON
record_check() { printf '{"check":"%s","result":%s}\n' "$1" "$2" >>"$CHECKS"; }

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

# wait_quiet: the machine is shared. Before a phase, wait (up to BENCH_QUIET_WAIT s) until
# other processes use under 25% of the CPU; print the last reading.
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

# ---------------------------------------------------------------- tools
log "tools"
if ! "$PY" -c 'import duckdb, pyarrow, pandas, numpy' 2>/dev/null; then
  log "installing duckdb, pyarrow, pandas, numpy into .tools/feast-venv"
  { [[ -x $PY ]] || python3 -m venv "$VENV"; } && "$VENV/bin/pip" install -q duckdb pyarrow pandas numpy \
    >"$WORK/logs/pip.log" 2>&1 || die "could not install duckdb/pyarrow into .tools/feast-venv (see .tools/bench-agg/logs/pip.log)"
fi

LATHE_STATUS=ok
COMMIT="$(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- services libs proto || echo '+dirty')"
LATHE_LABEL="\`$LATHE\` (the tree was at \`$COMMIT\` when the run started)"
if [[ ! -x $LATHE ]]; then
  LATHE_STATUS="no Lathe binary at $LATHE (build it, or give one with BENCH_LATHE_BIN)"
elif [[ $("${REDIS[@]}" ping 2>/dev/null) != PONG ]]; then
  LATHE_STATUS="Redis is not answering on 127.0.0.1:6379"
else
  REDIS_PID=$("${REDIS[@]}" info server | awk -F: '/^process_id:/ {print $2}' | tr -d '\r')
  if ! command -v wrk >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null || true
  fi
  command -v wrk >/dev/null || die "wrk is not installed and apt-get could not install it"
fi
[[ $LATHE_STATUS == ok ]] || printf '  Lathe will not run: %s\n' "$LATHE_STATUS" >&2

# ---------------------------------------------------------------- data
log "data (agg_gen.py: $EVENTS events, $ENTITY_ROWS entity rows)"
"$PY" "$HERE/agg_gen.py" "$WORK/data" --events "$EVENTS" --entity-rows "$ENTITY_ROWS" --drivers "$DRIVERS" \
  >"$WORK/logs/gen.json"
meta() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$WORK/data/meta.json" "$1"; }
FIRST=$(meta first)
LAST=$(meta last)
# The decoded size of the columns a retrieval needs from the whole source: what a reader that
# holds all events at once would keep, the yardstick of the memory target.
SOURCE_MIB=$("$PY" -c '
import sys, pyarrow.dataset as ds
t = ds.dataset(sys.argv[1], format="parquet").to_table(columns=["driver_id", "event_timestamp", "trip_id", "fare"])
print(round(t.nbytes / 2**20, 1))' "$WORK/data/trips")
# Online check bodies: 100 known ids spread over 1..DRIVERS, for each view.
for view in plain agg; do
  features=$PLAIN_FEATURES
  [[ $view == agg ]] && features=$AGG_FEATURES
  "$PY" -c '
import json, sys
n = int(sys.argv[1])
ids = sorted({1 + (i * 9973) % n for i in range(99)} | {n})
print(json.dumps({"features": sys.argv[2].split(","), "entities": {"driver_id": ids}}))
' "$DRIVERS" "$features" >"$WORK/online-sample-$view.json"
done
# ---------------------------------------------------------------- DuckDB
bench_duckdb() {
  log "DuckDB range join, 1 warm-up + $REPEATS"
  local busy out
  busy=$(wait_quiet)
  row_start
  if out=$("$PY" "$HERE/agg_duckdb.py" "$WORK/data/trips" "$WORK/data/entities.parquet" "$WORK/out/duckdb.parquet" \
    --warmup 1 --repeats "$REPEATS" 2>"$WORK/logs/duckdb.log"); then
    record duckdb historical "$busy" "$out"
    printf '  duckdb historical: %s\n' "$out" >&2
  else
    die "DuckDB failed (the reference of every check): $(tail -3 "$WORK/logs/duckdb.log")"
  fi
}

# ---------------------------------------------------------------- Lathe
# lathe_historical: 1 warm-up + REPEATS of `lathe features historical`; records the wall
# times and the server's memory: its RSS before the runs, its peak before them (start-up,
# apply) and its peak during them (VmHWM, reset just before the runs through clear_refs).
lathe_historical() {
  local busy i t0 t1 secs=() warmups=() rss_before hwm_startup hwm_reset=false
  busy=$(wait_quiet)
  hwm_startup=$(status_kib "$LATHE_PID" VmHWM)
  # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0).
  echo 5 2>/dev/null >"/proc/$LATHE_PID/clear_refs" && hwm_reset=true
  rss_before=$(status_kib "$LATHE_PID" VmRSS)
  row_start
  for ((i = 0; i < 1 + REPEATS; i++)); do
    t0=$(now)
    if ! "$LATHE" features historical --entities "$WORK/data/entities.parquet" --features "$AGG_FEATURES" \
      --out "$WORK/out/lathe.parquet" >"$WORK/logs/lathe-historical.$i.log" 2>&1; then
      record lathe historical "$busy" "{\"error\":$(json_str "run $i failed: $(tail -2 "$WORK/logs/lathe-historical.$i.log")")}"
      printf '  lathe historical: run %d FAILED: %s\n' "$i" "$(tail -2 "$WORK/logs/lathe-historical.$i.log")" >&2
      return 0
    fi
    t1=$(now)
    if ((i < 1)); then warmups+=("$(elapsed "$t0" "$t1")"); else secs+=("$(elapsed "$t0" "$t1")"); fi
  done
  local hwm
  hwm=$(status_kib "$LATHE_PID" VmHWM)
  local IFS=,
  record lathe historical "$busy" "$(printf '{"seconds":[%s],"warmup":[%s],"rss_before_mib":%s,"peak_rss_mib":%s,"peak_reset":%s,"startup_peak_rss_mib":%s}' \
    "${secs[*]}" "${warmups[*]}" "$((rss_before / 1024))" "$((hwm / 1024))" "$hwm_reset" "$((hwm_startup / 1024))")"
  printf '  lathe historical: %s s (warm-up %s s), server RSS %s MiB before, peak %s MiB\n' "${secs[*]}" "${warmups[*]}" \
    "$((rss_before / 1024))" "$((hwm / 1024))" >&2
}

# lathe_materialize VIEW: materializes VIEW over [first event, last event].
lathe_materialize() {
  local busy t0 t1
  busy=$(wait_quiet)
  row_start
  t0=$(now)
  if "$LATHE" features materialize --start "$FIRST" --end "$LAST" --view "$1" \
    >"$WORK/logs/lathe-materialize-$1.json" 2>"$WORK/logs/lathe-materialize-$1.log"; then
    t1=$(now)
    # The CLI's summary, on one line; null if it printed none.
    local answer
    answer=$("$PY" -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))))' \
      "$WORK/logs/lathe-materialize-$1.json" 2>/dev/null || echo null)
    record lathe "materialize-$1" "$busy" "{\"seconds\":$(elapsed "$t0" "$t1"),\"answer\":$answer}"
    printf '  lathe materialize %s: %s s\n' "$1" "$(elapsed "$t0" "$t1")" >&2
    return 0
  fi
  record lathe "materialize-$1" "$busy" "{\"error\":$(json_str "lathe features materialize failed: $(tail -2 "$WORK/logs/lathe-materialize-$1.log")")}"
  return 1
}

# measure_online VIEW FEATURES BASE_URL HEADER: wrk with online.lua, 1 entity per request, ids
# rotating over 1..DRIVERS; records requests, latency and the server's CPU seconds.
measure_online() {
  local view=$1 features=$2 base=$3 header=$4
  local slug="lathe-online-$view"
  local args=(-t"$THREADS" -c"$CONNS" --timeout 30s --latency -s "$HERE/online.lua" -H "$header")
  local busy
  busy=$(wait_quiet)
  if ((WARMUP > 0)); then
    wrk "${args[@]}" -d"${WARMUP}s" "$base" -- /get-online-features "$features" 1 "$DRIVERS" \
      >"$WORK/logs/$slug.warmup" 2>&1 || true
  fi
  local c0 r0 c1 r1
  row_start
  c0=$("$PY" "$HERE/cpu.py" "$LATHE_PID")
  r0=$("$PY" "$HERE/cpu.py" "$REDIS_PID")
  wrk "${args[@]}" -d"${DURATION}s" "$base" -- /get-online-features "$features" 1 "$DRIVERS" \
    >"$WORK/logs/$slug.wrk" 2>&1 || die "wrk failed for $slug: $(tail -3 "$WORK/logs/$slug.wrk")"
  c1=$("$PY" "$HERE/cpu.py" "$LATHE_PID")
  r1=$("$PY" "$HERE/cpu.py" "$REDIS_PID")
  local line
  line=$(grep '^RESULT' "$WORK/logs/$slug.wrk") || die "no RESULT from wrk for $slug"
  local -A r
  local kv
  for kv in ${line#RESULT }; do r[${kv%%=*}]=${kv#*=}; done
  local errors=$((r[non2xx] + r[connect] + r[read] + r[write] + r[timeout]))
  record lathe "online-$view" "$busy" "$(printf '{"requests":%s,"duration_us":%s,"p50_us":%s,"p90_us":%s,"p99_us":%s,"max_us":%s,"errors":%s,"server_cpu_s":%s,"redis_cpu_s":%s}' \
    "${r[requests]}" "${r[duration_us]}" "${r[p50_us]}" "${r[p90_us]}" "${r[p99_us]}" "${r[max_us]}" "$errors" \
    "$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b-a}')" "$(awk -v a="$r0" -v b="$r1" 'BEGIN{printf "%.2f", b-a}')")"
  printf '  lathe online %s: %s\n' "$view" "${line#RESULT }" >&2
}

# online_sample VIEW URL TOKEN: saves one answer to the view's check body, checked later, and
# the time it was read at (an aggregated view's windows end at the read).
online_sample() {
  if ! "$PY" "$HERE/check.py" online-fetch "$2" "$WORK/online-sample-$1.json" "$WORK/out/lathe-online-sample-$1.json" "$3" \
    2>"$WORK/logs/lathe-online-sample-$1.log"; then
    echo "Lathe's online sample request for the $1 view failed: $(tail -1 "$WORK/logs/lathe-online-sample-$1.log")" >>"$NOTES"
  fi
  date -u +%Y-%m-%dT%H:%M:%S.%6NZ >"$WORK/online-sample-$1.time"
}

# online_expected: what the aggregated view's online answer must hold, the aggregations at the
# moment it was read (windows end at the read; the server answered within milliseconds of it,
# so only a read that straddles a minute edge could differ), computed by DuckDB for the sample ids.
online_expected() {
  "$PY" -c '
import json, sys, datetime as dt, pyarrow as pa, pyarrow.parquet as pq
ids = json.load(open(sys.argv[1]))["entities"]["driver_id"]
at = dt.datetime.fromisoformat(sys.argv[2].replace("Z", "+00:00"))
pq.write_table(pa.table({"row_id": pa.array(range(len(ids)), pa.int64()), "driver_id": pa.array(ids, pa.int64()),
                         "event_timestamp": pa.array([at] * len(ids), pa.timestamp("us", tz="UTC"))}), sys.argv[3])
' "$WORK/online-sample-agg.json" "$(cat "$WORK/online-sample-agg.time")" "$WORK/online-sample-agg-entities.parquet"
  "$PY" "$HERE/agg_duckdb.py" "$WORK/data/trips" "$WORK/online-sample-agg-entities.parquet" \
    "$WORK/out/online-sample-agg-expected.parquet" --warmup 0 --repeats 0 >"$WORK/logs/online-expected.json" 2>&1 ||
    die "DuckDB failed on the online sample: $(tail -3 "$WORK/logs/online-expected.json")"
}

# write_repository DIR WITH_AGGREGATIONS: the feature repository, with or without driver_trips.
write_repository() {
  rm -rf "$1"
  mkdir -p "$1"
  cat >"$1/features.yaml" <<EOF
entities:
  - name: driver
    join_keys: [{name: driver_id, type: int64}]
sources:
  - name: driver_plain_source
    file: {path: data/driver_plain.parquet}
    timestamp_field: event_timestamp
feature_views:
  - name: driver_plain
    entities: [driver]
    source: driver_plain_source
    ttl: 720h
    schema:
      - {name: rating, type: float64}
      - {name: acceptance_rate, type: float64}
      - {name: avg_fare, type: float64}
      - {name: tenure_days, type: float64}
EOF
  [[ $2 == yes ]] || return 0
  cat >"$1/aggregations.yaml" <<EOF
sources:
  - name: trips
    file: {path: trips/}
    timestamp_field: event_timestamp
feature_views:
  - name: driver_trips
    entities: [driver]
    source: trips
    aggregations:
      - {column: fare, function: sum, window: 1h}
      - {column: trip_id, function: count, window: 1d}
      - {column: fare, function: mean, window: 7d}
      - {column: fare, function: max, window: 7d}
EOF
}

bench_lathe() {
  log "Lathe: standalone on Redis db $DB"
  local data=$WORK/lathe-data port
  rm -rf "$data"
  mkdir -p "$data/objects/features/data"
  cp -r "$WORK/data/trips" "$data/objects/features/trips"
  cp "$WORK/data/driver_plain.parquet" "$data/objects/features/data/"
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
  export LATHE_URL=$base LATHE_PROJECT=$PROJECT LATHE_TOKEN=$token

  local aggregated=yes
  write_repository "$WORK/lathe-repo" yes
  if ! "$LATHE" features apply "$WORK/lathe-repo" >"$WORK/logs/lathe-apply.log" 2>&1; then
    aggregated=no
    local why
    why="lathe features apply rejected the aggregated view: $(tail -3 "$WORK/logs/lathe-apply.log" | tr '\n' ' ')"
    printf '  %s\n' "$why" >&2
    record_error lathe historical "$why"
    record_error lathe online-agg "$why"
    write_repository "$WORK/lathe-repo" no
    "$LATHE" features apply "$WORK/lathe-repo" >"$WORK/logs/lathe-apply-plain.log" 2>&1 ||
      die "lathe features apply failed even without aggregations: $(tail -5 "$WORK/logs/lathe-apply-plain.log")"
  fi

  if [[ $aggregated == yes ]]; then
    log "Lathe: historical retrieval ($ENTITY_ROWS entity rows x 4 aggregations), 1 warm-up + $REPEATS"
    lathe_historical
  fi

  log "Lathe: materialize [$FIRST, $LAST]"
  flush
  local plain_ok=yes agg_ok=$aggregated
  lathe_materialize driver_plain || plain_ok=no
  if [[ $aggregated == yes ]]; then lathe_materialize driver_trips || agg_ok=no; fi

  log "Lathe: online serving, POST /get-online-features, 1 entity x 4 features"
  if [[ $plain_ok == yes ]]; then
    online_sample plain "$base/get-online-features" "$token"
    measure_online plain "$PLAIN_FEATURES" "$base" "$auth"
  else
    record_error lathe online-plain "materialization failed: see .tools/bench-agg/logs/lathe-materialize-driver_plain.log"
  fi
  if [[ $agg_ok == yes ]]; then
    online_sample agg "$base/get-online-features" "$token"
    measure_online agg "$AGG_FEATURES" "$base" "$auth"
  elif [[ $aggregated == yes ]]; then
    record_error lathe online-agg "materialization failed: see .tools/bench-agg/logs/lathe-materialize-driver_trips.log"
  fi

  kill "$LATHE_PID" 2>/dev/null || true
  wait "$LATHE_PID" 2>/dev/null || true
  LATHE_PID=""
  unset LATHE_URL LATHE_PROJECT LATHE_TOKEN
  flush
}

START=$(date -u '+%Y-%m-%d %H:%M UTC')
T_START=$(now)
bench_duckdb
if [[ $LATHE_STATUS == ok ]]; then
  bench_lathe
else
  record_error lathe historical "$LATHE_STATUS"
  record_error lathe online-plain "$LATHE_STATUS"
  record_error lathe online-agg "$LATHE_STATUS"
fi

# ---------------------------------------------------------------- checks and report
log "checks"
record_check selftest "$("$PY" "$HERE/agg_check.py" selftest "$WORK/out/duckdb.parquet" 2>"$WORK/logs/check-selftest.log" ||
  true)"
outputs=()
[[ -f $WORK/out/lathe.parquet ]] && outputs+=(lathe="$WORK/out/lathe.parquet")
"$PY" "$HERE/agg_check.py" historical "$WORK/data" "$WORK/out/duckdb.parquet" ${outputs[@]+"${outputs[@]}"} \
  2>"$WORK/logs/check-historical.log" | while read -r line; do record_check historical "$line"; done
if [[ -f $WORK/out/lathe-online-sample-plain.json ]]; then
  record_check online-plain "$("$PY" "$HERE/agg_check.py" online-plain "$WORK/data" \
    "$WORK/out/lathe-online-sample-plain.json" "$WORK/online-sample-plain.json")"
fi
if [[ -f $WORK/out/lathe-online-sample-agg.json ]]; then
  online_expected
  record_check online-agg "$("$PY" "$HERE/agg_check.py" online-agg "$WORK/out/lathe-online-sample-agg.json" \
    "$WORK/out/online-sample-agg-expected.parquet" "$WORK/online-sample-agg.json")"
fi
cat "$CHECKS" >&2

log "report"
"$PY" "$HERE/agg_report.py" "$RESULTS" "$CHECKS" "$NOTES" "$WORK/data/meta.json" \
  --started "$START" --minutes "$(awk -v a="$T_START" -v b="$(now)" 'BEGIN{printf "%.1f", (b-a)/60}')" \
  --lathe "$LATHE_LABEL" --lathe-status "$LATHE_STATUS" --source-mib "$SOURCE_MIB" --redis-db "$DB" \
  --duration "$DURATION" --warmup "$WARMUP" --repeats "$REPEATS" --quiet-wait "${BENCH_QUIET_WAIT:-120}" \
  --threads "$THREADS" --conns "$CONNS" | tee "$WORK/results.md"
