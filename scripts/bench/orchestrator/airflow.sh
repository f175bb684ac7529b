#!/usr/bin/env bash
# Orchestrator benchmark, Airflow half: trigger-to-success time of Apache Airflow 3 (PyPI) for
#   chain10   - 10 no-op command tasks (BashOperator `true`) in a chain,
#   fanout100 - 100 independent no-op command tasks (BashOperator `true`),
# with the LocalExecutor on PostgreSQL, all on loopback. One command, idempotent:
#
#     scripts/bench/orchestrator/airflow.sh
#
# What it does, in order:
#   1. installs the exact versions in airflow-requirements.txt (Airflow 3.3.2, the postgres
#      provider, psycopg2-binary and every dependency pinned: the official constraints file is
#      not reachable from here, only PyPI) into .tools/airflow-venv; skipped when the venv was
#      already made from the same requirements file (a sha256 stamp in the venv);
#   2. creates a fresh database airflow_bench on 127.0.0.1:5432 (user postgres, trust auth,
#      sslmode=disable as in the registry benchmark) and a fresh AIRFLOW_HOME in
#      .tools/bench-orchestrator/airflow-home, with the two DAG files of dags/;
#      `airflow db migrate`;
#   3. starts the three processes Airflow 3 needs for LocalExecutor tasks: `airflow api-server`
#      (REST API and the execution API the tasks talk to; 1 worker, the default),
#      `airflow dag-processor` (parses the DAG files into the database) and `airflow scheduler`
#      (which runs the LocalExecutor: it forks [core] parallelism worker processes at start,
#      each of which supervises one task process at a time). No triggerer: no deferrable task;
#   4. waits until both DAGs are parsed, unpauses them, then per DAG: BENCH_AIRFLOW_WARMUP
#      warm-up runs (reported, not counted) and BENCH_REPEATS measured runs, one at a time;
#   5. prints the Markdown report (also written to .tools/bench-orchestrator/airflow-results.md);
#      on exit (trap), stops every process it started and drops airflow_bench.
#
# What is measured: from just before the REST call that triggers the run
# (POST /api/v2/dags/{dag}/dagRuns) to the first poll (GET .../dagRuns/{run_id}, every
# BENCH_POLL s on one kept-alive connection) that sees the run in state success. The polled
# figure exceeds the true one by at most one poll cycle (the BENCH_POLL sleep and one GET)
# plus the GET that sees the end, the GETs taking milliseconds: the run ends during some cycle
# and the next GET sees it. To show it, the report also gives, for each run, the end_date
# Airflow recorded minus the same start instant, which has no polling in it (seen: 0.05 to
# 0.25 s less than the polled figure at BENCH_POLL=0.2). REST rather than `airflow dags
# state`: each CLI call starts a Python interpreter that imports Airflow (seconds of CPU on 2
# cores), which could neither poll at 0.2 s nor stay out of the measured system's way.
#
# Configuration chosen ("two workers"): the LocalExecutor has no notion of worker hosts; its
# concurrency is [core] parallelism, the number of task slots (worker processes) of the one
# scheduler. BENCH_AIRFLOW_PARALLELISM (default 32, also Airflow's default) = 2 workers x 16
# slots, 16 being Lathe's default max_parallel_tasks. [core] max_active_tasks_per_dag is set to
# the same number (Airflow's default is 16), so fanout100 may run 32 tasks at once. Everything
# else is Airflow's default (scheduler loop, heartbeats, 1 api-server worker, task logs to files).
# The fan-out figure hangs on this choice: on this machine (2 cores, quiet), fanout100 took
# about 10 s with 32 slots and 63 s with BENCH_AIRFLOW_PARALLELISM=2 (two workers running one
# task at a time); chain10 is about 10-14 s either way (Airflow's per-task scheduling latency).
#
# Knobs (environment): BENCH_REPEATS (measured runs per DAG, default 3), BENCH_AIRFLOW_WARMUP
# (warm-up runs per DAG, default 1), BENCH_POLL (s between polls, default 0.2),
# BENCH_AIRFLOW_PARALLELISM (default 32), BENCH_RUN_TIMEOUT (s before a run counts as timed
# out, default 600), BENCH_PAUSE (s of rest between runs, default 3), BENCH_PYTHON (interpreter
# the venv is made from, default python3), BENCH_PG_SSLMODE (default disable).
# Before each run the report notes the 1-minute load average, the CPU busy share over 1 s
# (all processes, Airflow's idle loops included) and how many rustc processes were running:
# the machine is shared with cargo builds. A run that failed, timed out or had a task not in
# state success is reported as INVALID and left out of the summary.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
TOOLS=$ROOT/.tools
WORK=$TOOLS/bench-orchestrator
LOGS=$WORK/airflow-logs
VENV=$TOOLS/airflow-venv
REQS=$HERE/airflow-requirements.txt
REPEATS=${BENCH_REPEATS:-3}
WARMUP=${BENCH_AIRFLOW_WARMUP:-1}
POLL=${BENCH_POLL:-0.2}
PARALLELISM=${BENCH_AIRFLOW_PARALLELISM:-32}
RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-600}
PAUSE=${BENCH_PAUSE:-3}
PYTHON=${BENCH_PYTHON:-python3}
SSLMODE=${BENCH_PG_SSLMODE:-disable}
PG_HOST=127.0.0.1
DB=airflow_bench
DAGS=(chain10 fanout100)
declare -A TASKS=([chain10]=10 [fanout100]=100)

log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'airflow.sh: %s\n' "$*" >&2; exit 1; }

mkdir -p "$WORK"
rm -rf "$LOGS"
mkdir -p "$LOGS"

PGIDS=()
cleanup() {
  set +e
  local pg i alive
  # Each Airflow process was started with setsid: its process group holds it and its children
  # (the scheduler's LocalExecutor workers and their task processes, uvicorn's workers).
  for pg in "${PGIDS[@]}"; do kill -TERM -- "-$pg" 2>/dev/null; done
  for ((i = 0; i < 60; i++)); do
    alive=0
    for pg in "${PGIDS[@]}"; do kill -0 -- "-$pg" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.5
  done
  for pg in "${PGIDS[@]}"; do kill -KILL -- "-$pg" 2>/dev/null; done
  PGIDS=()
  dropdb -h "$PG_HOST" -U postgres --if-exists --force "$DB" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ---------------------------------------------------------------- install
pg_isready -q -h "$PG_HOST" || die "PostgreSQL is not answering on $PG_HOST:5432"
STAMP=$VENV/.lathe-bench-requirements.sha256
WANT=$(sha256sum "$REQS" | cut -d' ' -f1)
if [[ -x $VENV/bin/airflow && -f $STAMP && $(cat "$STAMP") == "$WANT" ]]; then
  log "Airflow venv is up to date ($VENV)"
else
  log "installing airflow-requirements.txt into $VENV (log: .tools/bench-orchestrator/airflow-logs/pip.log)"
  t0=$EPOCHREALTIME
  rm -rf "$VENV"
  {
    "$PYTHON" -m venv "$VENV" &&
      "$VENV/bin/pip" install -q --upgrade pip &&
      "$VENV/bin/pip" install -r "$REQS" &&
      "$VENV/bin/pip" check
  } >"$LOGS/pip.log" 2>&1 || die "pip install failed: $(tail -5 "$LOGS/pip.log")"
  echo "$WANT" >"$STAMP"
  log "installed in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.0f", b-a}') s"
fi
AIRFLOW=$VENV/bin/airflow
AIRFLOW_VERSION=$("$VENV/bin/python" -c 'import airflow; print(airflow.__version__)')
PY_VERSION=$("$VENV/bin/python" -c 'import platform; print(platform.python_version())')

# ---------------------------------------------------------------- configuration
export AIRFLOW_HOME=$WORK/airflow-home
rm -rf "$AIRFLOW_HOME"
mkdir -p "$AIRFLOW_HOME/dags"
cp "$HERE/dags/chain10.py" "$HERE/dags/fanout100.py" "$AIRFLOW_HOME/dags/"
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
USER_NAME=bench
PASSWORD=$(python3 -c 'import secrets; print(secrets.token_urlsafe(16))')
printf '{"%s": "%s"}\n' "$USER_NAME" "$PASSWORD" >"$AIRFLOW_HOME/passwords.json"

export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__CORE__PARALLELISM=$PARALLELISM
export AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG=$PARALLELISM
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_FOLDER=$AIRFLOW_HOME/dags
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=$BASE/execution/
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=$USER_NAME:admin
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=$AIRFLOW_HOME/passwords.json
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg2://postgres@$PG_HOST:5432/$DB?sslmode=$SSLMODE"
# The async engine (asyncpg, used by the api-server) takes `ssl`, not libpq's `sslmode`.
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC="postgresql+asyncpg://postgres@$PG_HOST:5432/$DB?ssl=$SSLMODE"
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT=$PORT
export AIRFLOW__API__BASE_URL=$BASE
# The scheduler serves task logs on this port (all interfaces, Airflow's choice): a free one,
# so that a second Airflow on the machine does not collide with this one.
AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=$(free_port)
export AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT
# All processes must share the key that signs the tasks' and the API's tokens.
AIRFLOW__API_AUTH__JWT_SECRET=$(python3 -c 'import secrets; print(secrets.token_urlsafe(64))')
AIRFLOW__API__SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
export AIRFLOW__API_AUTH__JWT_SECRET AIRFLOW__API__SECRET_KEY

# ---------------------------------------------------------------- database and processes
log "Airflow $AIRFLOW_VERSION: database $DB, airflow db migrate"
dropdb -h "$PG_HOST" -U postgres --if-exists --force "$DB"
createdb -h "$PG_HOST" -U postgres "$DB"
"$AIRFLOW" db migrate >"$LOGS/db-migrate.log" 2>&1 || die "airflow db migrate failed: $(tail -5 "$LOGS/db-migrate.log")"

start() { # NAME ARGS...: runs `airflow ARGS` in its own session (process group)
  local name=$1
  shift
  setsid "$AIRFLOW" "$@" >"$LOGS/$name.log" 2>&1 &
  PGIDS+=($!)
}
log "starting api-server (port $PORT), dag-processor, scheduler (LocalExecutor, parallelism $PARALLELISM)"
start api-server api-server --host 127.0.0.1 --port "$PORT"
start dag-processor dag-processor
start scheduler scheduler
"$VENV/bin/python" "$HERE/airflow_bench.py" ready "$BASE" "$USER_NAME" "$PASSWORD" 180 "${DAGS[@]}" ||
  die "Airflow did not get ready; logs in .tools/bench-orchestrator/airflow-logs: $(tail -5 "$LOGS/api-server.log")"
for pg in "${PGIDS[@]}"; do kill -0 "$pg" 2>/dev/null || die "an Airflow process died; see .tools/bench-orchestrator/airflow-logs"; done

# ---------------------------------------------------------------- measuring
# busy_pct: CPU busy (all cores, percent) over the next second, read from /proc/stat.
busy_pct() {
  local a b
  read -ra a </proc/stat; sleep 1; read -ra b </proc/stat
  awk -v u1="${a[1]}" -v n1="${a[2]}" -v s1="${a[3]}" -v i1="${a[4]}" -v w1="${a[5]}" -v q1="${a[6]}" -v sq1="${a[7]}" -v st1="${a[8]}" \
      -v u2="${b[1]}" -v n2="${b[2]}" -v s2="${b[3]}" -v i2="${b[4]}" -v w2="${b[5]}" -v q2="${b[6]}" -v sq2="${b[7]}" -v st2="${b[8]}" \
    'BEGIN { busy = (u2+n2+s2+q2+sq2+st2) - (u1+n1+s1+q1+sq1+st1); idle = (i2+w2) - (i1+w1);
             printf "%d", (busy + idle) ? 100 * busy / (busy + idle) : 0 }'
}

RESULTS=$WORK/airflow-runs.tsv # dag, kind, n, polled_s, recorded_s, state, run_id, tasks_ok, tasks, queued_to_start_s, load1, busy%, rustc
: >"$RESULTS"
START=$(date -u '+%Y-%m-%d %H:%M UTC')
for dag in "${DAGS[@]}"; do
  for ((i = 1; i <= WARMUP + REPEATS; i++)); do
    kind=measured n=$((i - WARMUP))
    ((i <= WARMUP)) && kind=warm-up n=$i
    sleep "$PAUSE"
    load1=$(cut -d' ' -f1 /proc/loadavg)
    rustc=$(pgrep -cx rustc || true)
    busy=$(busy_pct)
    echo "  $(uptime)" >&2
    line=$("$VENV/bin/python" "$HERE/airflow_bench.py" run "$BASE" "$USER_NAME" "$PASSWORD" "$dag" "${TASKS[$dag]}" "$POLL" "$RUN_TIMEOUT")
    IFS=$'\t' read -r polled recorded state run_id ok q2s <<<"$line"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$dag" "$kind" "$n" "$polled" "$recorded" "$state" \
      "$run_id" "$ok" "${TASKS[$dag]}" "$q2s" "$load1" "$busy" "$rustc" >>"$RESULTS"
    printf '  %-9s %-8s %s: %s s (end_date: %s s) %s, %s/%s tasks ok; load1=%s busy=%s%% rustc=%s\n' "$dag" "$kind" "$n" \
      "$polled" "$recorded" "$state" "$ok" "${TASKS[$dag]}" "$load1" "$busy" "$rustc" >&2
  done
done

# ---------------------------------------------------------------- report
log "report"
"$VENV/bin/python" - "$RESULTS" "$START" "$AIRFLOW_VERSION" "$PY_VERSION" "$PARALLELISM" "$POLL" "$REPEATS" "$WARMUP" \
  "$(psql -h "$PG_HOST" -U postgres -Atc 'show server_version')" <<'EOF' | tee "$WORK/airflow-results.md"
import csv, statistics, sys

path, started, version, py, par, poll, repeats, warmup, pg = sys.argv[1:]
rows = list(csv.reader(open(path), delimiter="\t"))
print(f"## Airflow {version}: trigger-to-success ({started})\n")
print(f"LocalExecutor, parallelism {par}, max_active_tasks_per_dag {par}; PostgreSQL {pg} on loopback; "
      f"Python {py}; {repeats} measured runs per DAG after {warmup} warm-up run(s), one run at a time; "
      f"state polled every {poll} s over the REST API.\n")
print("| DAG | tasks | runs | median s | min s | max s |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for dag in dict.fromkeys(r[0] for r in rows):
    mine = [r for r in rows if r[0] == dag and r[1] == "measured"]
    good = [float(r[3]) for r in mine if r[5] == "success" and r[7] == r[8]]
    bad = len(mine) - len(good)
    tasks = mine[0][8] if mine else "?"
    if good:
        cells = f"{statistics.median(good):.2f} | {min(good):.2f} | {max(good):.2f}"
    else:
        cells = "n/a | n/a | n/a"
    runs = f"{len(good)}" + (f" (+{bad} INVALID)" if bad else "")
    print(f"| {dag} | {tasks} | {runs} | {cells} |")
print("\nEach run (recorded: Airflow's own end_date of the run minus the trigger instant, i.e. without "
      "the polling; queued→running: the run's start_date minus its queued_at; load before the run: "
      "1-min load average, CPU busy over 1 s, rustc processes):\n")
print("| DAG | run | polled s | recorded s | queued→running s | state | tasks ok | load1 | busy % | rustc |")
print("| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
for r in rows:
    dag, kind, n, polled, recorded, state, _run_id, ok, tasks, q2s, load1, busy, rustc = r
    valid = state == "success" and ok == tasks
    label = f"{kind} {n}" + ("" if valid else " INVALID")
    print(f"| {dag} | {label} | {polled} | {recorded} | {q2s} | {state} | {ok}/{tasks} | {load1} | {busy} | {rustc} |")
EOF
