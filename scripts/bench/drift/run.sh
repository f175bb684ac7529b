#!/usr/bin/env bash
# Drift benchmark: Lathe's drift statistics vs numpy/scipy vs Evidently (PyPI), on the same
# data, one after the other. One command:
#
#     scripts/bench/drift/run.sh
#
# What it does, in order (details and results: docs/benchmarks.md, "Drift"):
#   1. builds `cargo build --release -p lathe-monitor --example drift_bench` (unless
#      BENCH_LATHE_BIN); installs numpy + scipy into .tools/drift-venv
#      (scripts/fixtures/install-venv.sh) and Evidently 0.7.x with pandas<3 into
#      .tools/evidently-venv, each only if its venv does not import them yet;
#   2. writes the data once: reference and current, BENCH_COLUMNS (20) numeric columns x
#      BENCH_ROWS (1,000,000) rows each, raw little-endian f64 in .tools/bench-drift/data
#      (seeded generator in the example; odd columns shifted in the current sample);
#   3. Lathe (drift_bench): per column, the default statistic (default options: normalised
#      Wasserstein here), PSI and KS in one column_drifts call (the column prepared once: the
#      total), then each alone through column_drift (the breakdown); columns over every core,
#      then (unless BENCH_SKIP_SINGLE=1) again on one thread;
#   4. numpy/scipy (scipy_bench.py): normalised Wasserstein, PSI with the same Sturges bins,
#      ks_2samp, one column after the other; compares every statistic with Lathe's;
#   5. Evidently (evidently_bench.py): Report([DataDriftPreset()]) on the two DataFrames,
#      unless BENCH_SKIP_EVIDENTLY=1 (it takes minutes);
#   6. prints one Markdown table (also .tools/bench-drift/results.md); logs in
#      .tools/bench-drift/logs.
#
# Knobs (environment): BENCH_ROWS, BENCH_COLUMNS (data size; the defaults are the
# benchmark's), BENCH_THREADS (Lathe's threads, default every core), BENCH_SKIP_SINGLE=1,
# BENCH_SKIP_EVIDENTLY=1, BENCH_LATHE_BIN (use this binary instead of building),
# BENCH_EVIDENTLY_SPEC (pip requirement, default 'evidently>=0.7,<0.8').
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
TOOLS=$ROOT/.tools
WORK=$TOOLS/bench-drift
DATA=$WORK/data
LOGS=$WORK/logs
ROWS=${BENCH_ROWS:-1000000}
COLUMNS=${BENCH_COLUMNS:-20}
THREADS=${BENCH_THREADS:-$(nproc)}
SCIPY_PY=$TOOLS/drift-venv/bin/python
EVIDENTLY_VENV=$TOOLS/evidently-venv
EVIDENTLY_PY=$EVIDENTLY_VENV/bin/python
EVIDENTLY_SPEC=${BENCH_EVIDENTLY_SPEC:-evidently>=0.7,<0.8}

log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

mkdir -p "$DATA" "$LOGS"
rm -f "$LOGS"/* "$WORK/results.md" "$WORK/results.jsonl"
RESULTS=$WORK/results.jsonl # one line per system: {"system", "load", "commit", ...result}
: >"$RESULTS"
NOTES=$WORK/notes.txt
: >"$NOTES"

# -- 1. builds and virtualenvs
if [[ -n ${BENCH_LATHE_BIN:-} ]]; then
  BIN=$BENCH_LATHE_BIN
else
  log "cargo build --release -p lathe-monitor --example drift_bench"
  (cd "$ROOT" && cargo build --release -p lathe-monitor --example drift_bench)
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/drift_bench
fi
[[ -x $BIN ]] || die "no drift_bench binary at $BIN"

if ! "$SCIPY_PY" -c 'import numpy, scipy' 2>/dev/null; then
  log "installing numpy and scipy into .tools/drift-venv"
  "$ROOT/scripts/fixtures/install-venv.sh"
fi
EVIDENTLY=1
if [[ ${BENCH_SKIP_EVIDENTLY:-0} == 1 ]]; then
  EVIDENTLY=0
  echo "Evidently skipped (BENCH_SKIP_EVIDENTLY=1)" >>"$NOTES"
elif ! "$EVIDENTLY_PY" -c 'import evidently, pandas' 2>/dev/null; then
  log "installing $EVIDENTLY_SPEC with pandas<3 into .tools/evidently-venv (PyPI)"
  if ! { python3 -m venv "$EVIDENTLY_VENV" &&
    "$EVIDENTLY_VENV/bin/pip" install --quiet --upgrade pip &&
    "$EVIDENTLY_VENV/bin/pip" install --quiet "$EVIDENTLY_SPEC" 'pandas<3'; } >"$LOGS/evidently-install.log" 2>&1; then
    EVIDENTLY=0
    echo "Evidently could not be installed: see logs/evidently-install.log" >>"$NOTES"
  fi
fi

# -- 2. data
log "writing the data: 2 x $COLUMNS columns x $ROWS rows"
"$BIN" --rows "$ROWS" --columns "$COLUMNS" --write-data "$DATA"

record() { # system, json result line from a log
  local system=$1 logfile=$2 load=$3
  local json
  json=$(grep '^RESULT ' "$logfile" | tail -1 | cut -d' ' -f2-) || die "$system printed no RESULT (see $logfile)"
  printf '{"system": "%s", "load": "%s", "result": %s}\n' "$system" "$load" "$json" >>"$RESULTS"
}

# -- 3. Lathe
log "Lathe, $THREADS threads (load $(load))"
L=$(load)
"$BIN" --rows "$ROWS" --columns "$COLUMNS" --data "$DATA" --threads "$THREADS" \
  --stats "$WORK/lathe-stats.tsv" | tee "$LOGS/lathe.log"
record "lathe" "$LOGS/lathe.log" "$L"
if [[ ${BENCH_SKIP_SINGLE:-0} != 1 && $THREADS != 1 ]]; then
  log "Lathe, 1 thread (load $(load))"
  L=$(load)
  "$BIN" --rows "$ROWS" --columns "$COLUMNS" --data "$DATA" --threads 1 | tee "$LOGS/lathe-1.log"
  record "lathe-1" "$LOGS/lathe-1.log" "$L"
fi

# -- 4. numpy/scipy
log "numpy/scipy (load $(load))"
L=$(load)
"$SCIPY_PY" "$HERE/scipy_bench.py" --data "$DATA" --rows "$ROWS" --columns "$COLUMNS" \
  --lathe-stats "$WORK/lathe-stats.tsv" | tee "$LOGS/scipy.log"
record "scipy" "$LOGS/scipy.log" "$L"
"$SCIPY_PY" -c 'import numpy, scipy; print(f"numpy {numpy.__version__}, scipy {scipy.__version__}")' >>"$NOTES"

# -- 5. Evidently
if [[ $EVIDENTLY == 1 ]]; then
  log "Evidently DataDriftPreset (load $(load)); this takes minutes"
  L=$(load)
  if "$EVIDENTLY_PY" "$HERE/evidently_bench.py" --data "$DATA" --rows "$ROWS" --columns "$COLUMNS" \
    --lathe-stats "$WORK/lathe-stats.tsv" 2>"$LOGS/evidently.err" | tee "$LOGS/evidently.log"; then
    record "evidently" "$LOGS/evidently.log" "$L"
  else
    echo "Evidently failed: see logs/evidently.err" >>"$NOTES"
  fi
fi

# -- 6. the table
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
"$SCIPY_PY" - "$RESULTS" "$NOTES" "$COMMIT" "$ROWS" "$COLUMNS" "$WORK/results.md" <<'PY'
import datetime, json, platform, sys
results_path, notes_path, commit, rows, columns, out_path = sys.argv[1:]
rows_ = {}
for line in open(results_path):
    r = json.loads(line)
    rows_[r["system"]] = r
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
lines = [f"Drift benchmark, `{commit}`, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {cpu}; "
         f"2 x {int(columns)} columns x {int(rows):,} rows of f64.", ""]
lathe = rows_.get("lathe")
def f(x):
    return "—" if x is None else f"{x:.3f}"
lines.append("| system | default (Wasserstein) s | PSI s | KS s | total s (Lathe: all three together) | peak RSS MiB (data loaded: MiB) | load before | total ÷ Lathe's |")
lines.append("|---|---|---|---|---|---|---|---|")
names = {"lathe": "Lathe, {threads} threads", "lathe-1": "Lathe, 1 thread", "scipy": "numpy/scipy (1 thread)",
         "evidently": "Evidently {version} DataDriftPreset (default statistic only)"}
for key in ("lathe", "lathe-1", "scipy", "evidently"):
    r = rows_.get(key)
    if not r:
        continue
    res = r["result"]
    name = names[key].format(threads=res.get("threads"), version=res.get("version"))
    total = res.get("total_s", res.get("preset_s"))
    ratio = f"×{total / lathe['result']['total_s']:.1f}" if lathe and key != "lathe" else "1"
    default = res.get("default_s", res.get("preset_s"))
    lines.append(f"| {name} | {f(default)} | {f(res.get('psi_s'))} | {f(res.get('ks_s'))} | {f(total)} | "
                 f"{res['peak_rss_mib']:.0f} ({res['loaded_rss_mib']:.0f}) | {r['load']} | {ratio} |")
if lathe:
    lines.append("")
    lr = lathe["result"]
    lines.append("Lathe's total is one `column_drifts` call per column for the three statistics (each column "
                 "prepared once); its part columns are each statistic alone through `column_drift`"
                 + "".join(f"; the parts alone sum to {rows_[k]['result']['parts_total_s']:.3f} s ({k})"
                           for k in ("lathe", "lathe-1") if k in rows_ and "parts_total_s" in rows_[k]["result"])
                 + f"; copy + sort of every column alone: {lr['prepare_s']:.3f} s.")
    lines.append(f"Lathe's data: {lr['data_mib']:.1f} MiB; peak RSS over the loaded data: all three together "
                 f"+{lr['peak_rss_mib'] - lr['loaded_rss_mib']:.0f} MiB; per part alone: "
                 + ", ".join(f"{p} +{lr[p + '_peak_rss_mib'] - lr['loaded_rss_mib']:.0f} MiB" for p in ("default", "psi", "ks")) + ".")
    if "evidently" in rows_:
        ev = rows_["evidently"]["result"]["preset_s"]
        lines.append(f"Evidently's preset ÷ Lathe's default part alone: ×{ev / lr['default_s']:.1f}.")
sc = rows_.get("scipy", {}).get("result", {})
if "max_rel_diff" in sc:
    lines.append("Largest relative difference Lathe vs scipy: " + ", ".join(f"{k} {v:.1e}" for k, v in sc["max_rel_diff"].items()) + ".")
ev = rows_.get("evidently", {}).get("result", {})
if "max_rel_diff_wasserstein" in ev:
    lines.append(f"Largest relative difference Lathe vs Evidently (normalised Wasserstein): {ev['max_rel_diff_wasserstein']:.1e}; "
                 f"Evidently's methods: {', '.join(ev.get('methods', []))}.")
notes = open(notes_path).read().strip()
if notes:
    lines += ["", "Notes: " + "; ".join(notes.splitlines()) + "."]
text = "\n".join(lines) + "\n"
open(out_path, "w").write(text)
print(text)
PY
