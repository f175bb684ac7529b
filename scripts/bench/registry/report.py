#!/usr/bin/env python3
"""Turns the measurements run.sh collected into the Markdown it prints.

results.tsv: system, operation, versions, requests, seconds, p50_us, p99_us, errors,
             background CPU % (all cores, the second before the phase)
artifacts.tsv: system, direction, seconds (one line per transfer)
unserved.tsv: system, operation, versions, what the route answered (an MLflow route Lathe
              does not serve yet)
Systems: lathe (Lathe's /api/v1), lathe-mlflow (Lathe's MLflow API), mlflow, disk.
"""

import argparse
import os
import platform
import statistics
import subprocess

ROWS = [
    # (label, lathe op, mlflow op; the MLflow API column measures the mlflow op on Lathe,
    #  what Lathe's /api/v1 calls, what the MLflow API is called with, on Lathe and on MLflow)
    ("get-version", "get-version", "get-version",
     "`GET /models/m/versions/{v}`, v random in 1..N", "`GET model-versions/get?name=m&version={v}`"),
    ("get-by-alias", "get-by-alias", "get-by-alias",
     "`GET /models/m/aliases/champion`", "`GET registered-models/alias?name=m&alias=champion`"),
    ("get-model (latest version per stage)", "get-model", "get-model",
     "`GET /models/m`", "`GET registered-models/get?name=m`"),
    ("get-latest-versions", "get-model", "get-latest-versions",
     "(same call as get-model)", "`POST registered-models/get-latest-versions {\"name\":\"m\"}`"),
    ("list versions, page of 100", "list-versions", "list-versions",
     "`GET /models/m/versions?page_size=100`", "`GET model-versions/search?filter=name='m'&max_results=100`"),
    ("list models, page of 100 (newest version per stage, aliases)", "list-models", "list-models",
     "`GET /models?page_size=100`", "`GET registered-models/search?max_results=100`"),
    ("search runs, page of 100", "search-runs", "search-runs",
     "`POST /runs/search` filter `metrics.accuracy > 0.5`, order `metrics.accuracy DESC`, page_size 100",
     "`POST runs/search`, same filter and order, max_results 100"),
    ("log-batch (100 metrics)", "log-batch", "log-batch",
     "`POST /runs/{run}/log-batch`, random run", "`POST runs/log-batch`, random run"),
    ("create-version", "create-version", "create-version",
     "`POST /models/m/versions` (copies the run's 4 KiB artifact)",
     "`POST model-versions/create`: on Lathe source `runs:/{run}/model` (copies the 4 KiB artifact), "
     "on MLflow source `s3://bench/m` (records the URI)"),
]
READS = {"get-version", "get-by-alias", "get-model", "get-latest-versions", "list-versions"}
# Issue 18's targets for Lathe's MLflow API against MLflow at the same concurrency.
RPS_TARGET = 30
P50_TARGET = 10
SYSTEMS = ("lathe", "lathe-mlflow", "mlflow")


def load(path):
    out = {}
    with open(path) as f:
        for line in f:
            system, op, versions, requests, seconds, p50, p99, errors, busy = line.rstrip("\n").split("\t")
            out[(system, op, int(versions))] = {
                "requests": int(requests), "seconds": float(seconds),
                "p50": int(p50) / 1000, "p99": int(p99) / 1000, "errors": int(errors), "busy": int(busy),
            }
    return out


def load_unserved(path):
    out = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                system, op, versions, what = line.rstrip("\n").split("\t")
                out[(system, op, int(versions))] = what
    return out


def cells(r, same_as=None, unserved=None):
    if same_as:
        return [same_as, "", ""]
    if unserved:
        return [f"not served ({unserved})", "", ""]
    if r is None:
        return ["n/a", "", ""]
    if r["requests"] == 0:
        return [f"none answered in {r['seconds']:.0f} s", "", ""]
    rate = f"{r['requests'] / r['seconds']:.1f}"
    if r["errors"]:
        rate = f"INVALID: {r['errors']} errors of {r['requests']}"
    return [rate, f"{r['p50']:.3f}", f"{r['p99']:.3f}"]


def valid(r):
    return r is not None and r["requests"] > 0 and not r["errors"]


def target_cells(lm, mr, unserved, duration):
    """rps ratio, met?, p50 ratio (MLflow's over Lathe's), met? for one row of the targets."""
    if unserved:
        return ["not served", "no", "not served", "no"]
    if lm is None or mr is None:
        return ["n/a", "—", "n/a", "—"]
    if lm["errors"] or mr["errors"] or lm["requests"] == 0:
        return ["n/a (INVALID or none answered)", "—", "n/a", "—"]
    rps = lm["requests"] / lm["seconds"]
    if mr["requests"] == 0:
        # MLflow answered nothing in the phase: fewer than one answer per phase, each request
        # took longer than the phase; both ratios are lower bounds.
        low_rps = rps * mr["seconds"]
        low_p50 = mr["seconds"] * 1000 / lm["p50"]
        return [f"> ×{low_rps:.0f} (MLflow: none in {mr['seconds']:.0f} s)", "yes" if low_rps >= RPS_TARGET else "unknown",
                f"> ×{low_p50:.0f}", "yes" if low_p50 >= P50_TARGET else "unknown"]
    ratio = rps / (mr["requests"] / mr["seconds"])
    lower = mr["p50"] / lm["p50"] if lm["p50"] else float("inf")
    return [f"×{ratio:.1f}", "yes" if ratio >= RPS_TARGET else "**no**",
            f"×{lower:.1f}", "yes" if lower >= P50_TARGET else "**no**"]


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    pg = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "show server_version"],
                        capture_output=True, text=True).stdout.strip()
    return (f"{os.cpu_count()} CPUs ({cpu}), {mem_kib / 1024 / 1024:.1f} GiB RAM, "
            f"Linux {platform.release()}, PostgreSQL {pg or '?'} on the same machine "
            f"(both systems connect with sslmode={os.environ.get('BENCH_PG_SSLMODE', 'disable')})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("artifacts")
    ap.add_argument("notes")
    for opt in ("started", "lathe", "mlflow", "mlflow-status", "mib", "duration", "warmup", "runs", "low", "high",
                "threads", "conns", "quiet-wait", "unserved"):
        ap.add_argument("--" + opt, required=True)
    a = ap.parse_args()
    low, high, mib = int(a.low), int(a.high), int(a.mib)
    res = load(a.results)
    unserved = load_unserved(a.unserved)

    print(f"Run {a.started}: Lathe {a.lathe} (release build, `lathe standalone`, registry on PostgreSQL), "
          f"MLflow {a.mlflow} ({a.mlflow_status}).  ")
    print(f"Machine: {machine()}.  ")
    print(f"Load: wrk, {a.threads} thread(s), {a.conns} connections, {a.warmup} s warm-up then {a.duration} s measured per row; "
          f"{a.runs} runs seeded per system; latencies in ms. \"Lathe /api/v1\" is Lathe's own API, \"Lathe MLflow API\" "
          "the same gateway and data through `/api/2.0/mlflow/...`, measured right after it; \"MLflow\" is `mlflow server` "
          "called the same way.\n")

    head = ["operation", "versions",
            "Lathe /api/v1 ops/s", "p50", "p99",
            "Lathe MLflow API ops/s", "p50", "p99",
            "MLflow ops/s", "p50", "p99"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    shown = []
    for label, lop, mop, _, _ in ROWS:
        for n in (low, high):
            lr, lm, mr = res.get(("lathe", lop, n)), res.get(("lathe-mlflow", mop, n)), res.get(("mlflow", mop, n))
            um = unserved.get(("lathe-mlflow", mop, n))
            if lr is None and lm is None and mr is None and um is None:
                continue
            shown.append((label, mop, n))
            same = "same call as get-model" if label == "get-latest-versions" else None
            print("| " + " | ".join([label, f"{n:,}"] + cells(lr, same) + cells(lm, unserved=um) + cells(mr)) + " |")

    print(f"\nIssue 18's targets: Lathe MLflow API over MLflow, same operation, same concurrency "
          f"({a.conns} connections): requests per second at least ×{RPS_TARGET}, and a p50 at least "
          f"×{P50_TARGET} lower (MLflow's p50 over Lathe's).\n")
    print("| operation | versions | req/s ÷ MLflow | ≥ ×30? | p50 MLflow ÷ Lathe | ≥ ×10? |")
    print("|---|---|---|---|---|---|")
    met = missed = 0
    for label, mop, n in shown:
        row = target_cells(res.get(("lathe-mlflow", mop, n)), res.get(("mlflow", mop, n)),
                           unserved.get(("lathe-mlflow", mop, n)), float(a.duration))
        met += (row[1] == "yes") + (row[3] == "yes")
        missed += (row[1] != "yes") + (row[3] != "yes")
        print("| " + " | ".join([label, f"{n:,}"] + row) + " |")
    print(f"\nTargets met: {met} of {met + missed} (rows × 2).")

    print(f"\nReads as versions pile up: p50 and p99 at {high:,} versions divided by the same at {low:,}.\n")
    print("| read | Lathe /api/v1 p50 | p99 | Lathe MLflow API p50 | p99 | MLflow p50 | p99 |")
    print("|---|---|---|---|---|---|---|")
    for label, lop, mop, _, _ in ROWS:
        if lop not in READS:
            continue
        row = [label]
        for system, op in (("lathe", lop), ("lathe-mlflow", mop), ("mlflow", mop)):
            a_, b_ = res.get((system, op, low)), res.get((system, op, high))
            for q in ("p50", "p99"):
                row.append(f"×{b_[q] / a_[q]:.2f}" if valid(a_) and valid(b_) and a_[q] else "n/a")
        if label == "get-latest-versions":
            row[1:3] = ["(get-model)", "(get-model)"]
        print("| " + " | ".join(row) + " |")

    transfers = {}
    with open(a.artifacts) as f:
        for line in f:
            system, direction, seconds = line.split()
            transfers.setdefault((system, direction), []).append(float(seconds))
    print(f"\n{mib} MiB artifact (random bytes), three transfers each, one at a time, with curl; "
          "MiB/s of the median time.\n")
    print("| what | seconds (each) | MiB/s (median) |")
    print("|---|---|---|")
    names = {
        ("lathe", "upload"): "Lathe /api/v1 upload (`PUT /runs/{id}/artifacts/...`)",
        ("lathe", "download"): "Lathe /api/v1 download (`GET`, written to disk)",
        ("lathe-mlflow", "upload"): "Lathe MLflow API upload (`PUT /api/2.0/mlflow-artifacts/artifacts/...`)",
        ("lathe-mlflow", "download"): "Lathe MLflow API download (`GET`, written to disk)",
        ("mlflow", "upload"): "MLflow upload (`PUT /api/2.0/mlflow-artifacts/artifacts/...`)",
        ("mlflow", "download"): "MLflow download (`GET`, written to disk)",
        ("disk", "cp"): "disk reference: `cp` (page cache)",
        ("disk", "dd-fsync"): "disk reference: `dd bs=1M conv=fsync`",
    }
    for key, name in names.items():
        what = unserved.get((key[0], key[1], high))
        if what:
            print(f"| {name} | not served ({what}) | |")
            continue
        if key not in transfers:
            continue
        secs = transfers[key]
        print(f"| {name} | {', '.join(f'{s:.3f}' for s in secs)} | {mib / statistics.median(secs):.1f} |")
    ratios = []
    for direction in ("upload", "download"):
        lm, mr = transfers.get(("lathe-mlflow", direction)), transfers.get(("mlflow", direction))
        if lm and mr:
            ratio = statistics.median(mr) / statistics.median(lm)
            verdict = "met" if ratio >= RPS_TARGET else "not met"
            ratios.append(f"{direction} ×{ratio:.1f} ({verdict})")
    if ratios:
        print(f"\nOne transfer at a time, MLflow's median time over Lathe MLflow API's (issue 18's ×{RPS_TARGET} "
              f"requests per second and ×{P50_TARGET} lower p50 at concurrency 1): {', '.join(ratios)}.")

    with open(a.notes) as f:
        notes = [line.strip() for line in f if line.strip()]
    if notes:
        print("\nNotes from the run:\n")
        for note in notes:
            print(f"- {note}")

    busy = sorted(((v["busy"], k) for k, v in res.items()), reverse=True)
    if busy:
        noisy = [f"{k[0]} {k[1]} at {k[2]:,} ({b}%)" for b, k in busy if b >= 25]
        print(f"\nBackground CPU (other processes on this shared machine, the second before each phase, "
              f"after waiting up to {a.quiet_wait} s for it to fall under 25%): median {statistics.median(b for b, _ in busy)}%, "
              f"max {busy[0][0]}%." + (f" Phases that started on a busy machine: {', '.join(noisy)}." if noisy else ""))

    for system, name in (("lathe", "Lathe /api/v1"), ("lathe-mlflow", "Lathe MLflow API")):
        reads = [(k, v) for k, v in res.items() if k[0] == system and k[1] in READS and valid(v)]
        if reads:
            worst = max(reads, key=lambda kv: kv[1]["p99"])
            print(f"\nWorst {name} read p99: {worst[1]['p99']:.3f} ms ({worst[0][1]} at {worst[0][2]:,} versions); "
                  f"target: well under 5 ms.")


if __name__ == "__main__":
    main()
