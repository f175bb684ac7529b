#!/usr/bin/env python3
"""Turns the measurements run.sh collected into the Markdown it prints.

results.tsv: system, operation, versions, requests, seconds, p50_us, p99_us, errors,
             background CPU % (all cores, the second before the phase)
artifacts.tsv: system, direction, seconds (one line per transfer)
"""

import argparse
import os
import platform
import statistics
import subprocess

ROWS = [
    # (label, lathe op, mlflow op, what each side calls)
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
     "`POST /models/m/versions` (copies the run's 4 KiB artifact)", "`POST model-versions/create` (source s3://bench/m)"),
]
READS = {"get-version", "get-by-alias", "get-model", "get-latest-versions", "list-versions"}


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


def cells(r, same_as=None):
    if same_as:
        return [same_as, "", ""]
    if r is None:
        return ["n/a", "", ""]
    if r["requests"] == 0:
        return [f"none answered in {r['seconds']:.0f} s", "", ""]
    rate = f"{r['requests'] / r['seconds']:.1f}"
    if r["errors"]:
        rate = f"INVALID: {r['errors']} errors of {r['requests']}"
    return [rate, f"{r['p50']:.3f}", f"{r['p99']:.3f}"]


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
    for opt in ("started", "lathe", "mlflow", "mlflow-status", "mib", "duration", "warmup", "runs", "low", "high", "threads", "conns"):
        ap.add_argument("--" + opt, required=True)
    a = ap.parse_args()
    low, high, mib = int(a.low), int(a.high), int(a.mib)
    res = load(a.results)

    print(f"Run {a.started}: Lathe {a.lathe} (release build, `lathe standalone`, registry on PostgreSQL), "
          f"MLflow {a.mlflow} ({a.mlflow_status}).  ")
    print(f"Machine: {machine()}.  ")
    print(f"Load: wrk, {a.threads} thread(s), {a.conns} connections, {a.warmup} s warm-up then {a.duration} s measured per row; "
          f"{a.runs} runs seeded per system; latencies in ms.\n")

    head = ["operation", "versions", "Lathe ops/s", "Lathe p50", "Lathe p99", "MLflow ops/s", "MLflow p50", "MLflow p99"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for label, lop, mop, _, _ in ROWS:
        for n in (low, high):
            lr, mr = res.get(("lathe", lop, n)), res.get(("mlflow", mop, n))
            if lr is None and mr is None:
                continue
            same = "same call as get-model" if label == "get-latest-versions" else None
            print("| " + " | ".join([label, f"{n:,}"] + cells(lr, same) + cells(mr)) + " |")

    print(f"\nReads as versions pile up: p50 and p99 at {high:,} versions divided by the same at {low:,}.\n")
    print("| read | Lathe p50 | Lathe p99 | MLflow p50 | MLflow p99 |")
    print("|---|---|---|---|---|")
    for label, lop, mop, _, _ in ROWS:
        if lop not in READS:
            continue
        row = [label]
        for system, op in (("lathe", lop), ("mlflow", mop)):
            a_, b_ = res.get((system, op, low)), res.get((system, op, high))
            for q in ("p50", "p99"):
                row.append(f"×{b_[q] / a_[q]:.2f}" if a_ and b_ and a_[q] else "n/a")
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
        ("lathe", "upload"): "Lathe upload (`PUT /runs/{id}/artifacts/...`)",
        ("lathe", "download"): "Lathe download (`GET`, written to disk)",
        ("mlflow", "upload"): "MLflow upload (`PUT /api/2.0/mlflow-artifacts/artifacts/...`)",
        ("mlflow", "download"): "MLflow download (`GET`, written to disk)",
        ("disk", "cp"): "disk reference: `cp` (page cache)",
        ("disk", "dd-fsync"): "disk reference: `dd bs=1M conv=fsync`",
    }
    for key, name in names.items():
        if key not in transfers:
            continue
        secs = transfers[key]
        print(f"| {name} | {', '.join(f'{s:.3f}' for s in secs)} | {mib / statistics.median(secs):.1f} |")

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
              f"after waiting up to 120 s for it to fall under 25%): median {statistics.median(b for b, _ in busy)}%, "
              f"max {busy[0][0]}%." + (f" Phases that started on a busy machine: {', '.join(noisy)}." if noisy else ""))

    lathe_reads = [(k, v) for k, v in res.items() if k[0] == "lathe" and k[1] in READS]
    if lathe_reads:
        worst = max(lathe_reads, key=lambda kv: kv[1]["p99"])
        print(f"\nWorst Lathe read p99: {worst[1]['p99']:.3f} ms ({worst[0][1]} at {worst[0][2]:,} versions); "
              f"target: well under 5 ms.")


if __name__ == "__main__":
    main()
