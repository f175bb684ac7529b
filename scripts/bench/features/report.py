#!/usr/bin/env python3
"""Turns what run.sh measured and checked into the Markdown it prints.

    report.py RESULTS.jsonl CHECKS.jsonl NOTES.txt META.json --started ... (see run.sh)

results.jsonl: {"system", "op", "busy" (background CPU % before the row), "bg_during" (the same
  during the row), "result": {...}}
  historical: {"seconds": [...], "warmup": [...]}  (DuckDB and Feast add "rows", versions)
  materialize: {"seconds", "keys"}; redis: {"rps", "p50_ms", "p99_ms"}
  online-N: {"requests", "duration_us", "p50_us", "p99_us", "errors", "server_cpu_s", "redis_cpu_s"}
  any row may be {"error": "..."} instead.
checks.jsonl: {"check": "historical" | "online-<system>", "result": {...}} (see check.py)
"""

import argparse
import json
import os
import platform
import statistics
import subprocess


def load_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def fmt_int(n):
    return f"{n:,.0f}"


def fmt_rate(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def machine(redis_version):
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    return (f"{os.cpu_count()} CPUs ({cpu}), {mem_kib / 1024 / 1024:.1f} GiB RAM, Linux {platform.release()}, "
            f"Redis {redis_version} on the same machine (no persistence)")


def versions():
    out = {}
    try:
        import dask
        import duckdb
        import pandas
        import pyarrow
        out.update(duckdb=duckdb.__version__, pyarrow=pyarrow.__version__, pandas=pandas.__version__,
                   dask=dask.__version__)
    except ImportError:
        pass
    out["python"] = platform.python_version()
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    out["wrk"] = (wrk.stdout + wrk.stderr).split()[1] if (wrk.stdout + wrk.stderr).split() else "?"
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("checks")
    ap.add_argument("notes")
    ap.add_argument("meta")
    for name in ("started", "minutes", "lathe", "feast", "feast-status", "redis", "redis-db", "duration",
                 "warmup", "repeats", "feast-repeats", "feast-serve-args", "quiet-wait", "threads", "conns"):
        ap.add_argument(f"--{name}", required=True)
    args = ap.parse_args()

    rows = {(r["system"], r["op"]): r for r in load_jsonl(args.results)}
    checks = load_jsonl(args.checks)
    with open(args.meta) as f:
        meta = json.load(f)
    with open(args.notes) as f:
        notes = [line.strip() for line in f if line.strip()]
    entity_rows = meta["entity_rows"]
    mat = meta["mat_entities"]
    v = versions()

    hist_checks = {c["result"]["name"]: c["result"] for c in checks if c["check"] == "historical"}
    online_checks = {c["check"][len("online-"):]: c["result"] for c in checks if c["check"].startswith("online-")}

    def res(system, op):
        r = rows.get((system, op))
        return r["result"] if r else None

    # ---- historical
    hist = {}
    for system in ("feast", "duckdb", "lathe"):
        r = res(system, "historical")
        if r and "seconds" in r and r["seconds"]:
            hist[system] = {"median": statistics.median(r["seconds"]), "min": min(r["seconds"]),
                            "n": len(r["seconds"])}

    def hist_check(system):
        if system == "duckdb":
            ref = hist_checks.get("reference")
            if not ref:
                return "not checked"
            bf = ref["brute_force"]
            state = "OK" if bf["mismatches"] == 0 and ref["rows"] == entity_rows else "INVALID"
            return (f"{state}: {ref['rows']:,} rows; reference for the others; vs a brute-force lookup on "
                    f"{bf['checked']:,} rows ({bf['on_hour']:,} on a window end): {bf['mismatches']} mismatches")
        c = hist_checks.get(system)
        if not c:
            return "not checked"
        if "error" in c:
            return f"INVALID: {c['error']}"
        bad = c["missing_rows"] + c["extra_rows"] + c["mismatched_rows"]
        text = (f"{c['rows']:,} rows; vs DuckDB: {c['missing_rows']:,} missing, {c['extra_rows']:,} extra, "
                f"{c['mismatched_rows']:,} with a differing value")
        if c["missing_rows"]:
            text += (f" (of the missing, {c['missing_with_reference_values']:,} have values in DuckDB's "
                     f"output: the others are rows with no feature row in their window)")
        return ("OK: " if bad == 0 else "INVALID: ") + text

    # ---- materialization
    def mat_rate(system):
        r = res(system, "materialize")
        if not r or "seconds" not in r:
            return None
        return r

    # ---- online
    def online(system, n):
        r = res(system, f"online-{n}")
        if not r or "requests" not in r:
            return None
        secs = r["duration_us"] / 1e6
        return {
            "rps": r["requests"] / secs, "p50": r["p50_us"] / 1000, "p99": r["p99_us"] / 1000,
            "per_core": r["requests"] / r["server_cpu_s"] if r["server_cpu_s"] > 0 else float("nan"),
            "cores": r["server_cpu_s"] / secs, "redis_cores": r["redis_cpu_s"] / secs,
            "errors": r["errors"], "requests": r["requests"],
        }

    out = []
    p = out.append
    p("### Results (as printed by the run)")
    p("")
    p(f"Started {args.started}; the whole run took {args.minutes} min. Lathe: {args.lathe}; Feast {args.feast} "
      f"({args.feast_status}), DuckDB {v.get('duckdb', '?')}, Redis {args.redis} (db {args.redis_db}).")
    p("")
    p("Batch rows (historical, materialization): the p50 column holds the median time of the timed runs "
      "and the p99 column the fastest; rows/s and keys/s are for the median. Online rows: wrk "
      f"-t{args.threads} -c{args.conns}, {args.duration} s measured after {args.warmup} s of warm-up; per core = requests per "
      "CPU-second of the server's process tree during the measured window.")
    p("")
    p("| system | operation | ops/s, rows/s or keys/s | p50 (batch: median) | p99 (batch: min) | per core | vs Feast | check |")
    p("|---|---|---|---|---|---|---|---|")

    op_hist = f"historical, {entity_rows:,} entity rows × 3 features"
    for system, label in (("feast", "Feast (file offline store)"), ("duckdb", "DuckDB ASOF LEFT JOIN"),
                          ("lathe", "Lathe (`lathe features historical`)")):
        h = hist.get(system)
        r = res(system, "historical")
        if h is None:
            err = (r or {}).get("error", "not run")
            p(f"| {label} | {op_hist} | INVALID: {err} |  |  |  |  |  |")
            continue
        ratio = f"×{hist['feast']['median'] / h['median']:.1f}" if "feast" in hist and system != "feast" else ""
        p(f"| {label} | {op_hist} | {fmt_rate(entity_rows / h['median'])} rows/s | {h['median']:.3f} s "
          f"(median of {h['n']}) | {h['min']:.3f} s | | {ratio} | {hist_check(system)} |")

    op_mat = f"materialize {mat:,} entities into Redis"
    mats = {}
    for system, label in (("feast", "Feast (`store.materialize`)"), ("lathe", "Lathe (`lathe features materialize`)")):
        r = res(system, "materialize")
        if r is None:
            continue
        if "seconds" not in r:
            p(f"| {label} | {op_mat} | INVALID: {r.get('error')} |  |  |  |  |  |")
            continue
        rate = r["keys"] / r["seconds"]
        mats[system] = {"rate": rate, "keys": r["keys"], "seconds": r["seconds"]}
        written = r.get("answer", {}).get("views", [{}])[0].get("entities_written") if "answer" in r else None
        ok = r["keys"] == mat and (written is None or written == mat)
        check = (f"{'OK' if ok else 'INVALID'}: {r['keys']:,} keys in Redis afterwards"
                 + (f", {written:,} entities written reported" if written is not None else ""))
        ratio = f"×{rate / mats['feast']['rate']:.1f}" if "feast" in mats and system != "feast" else ""
        p(f"| {label} | {op_mat} | {fmt_rate(rate)} keys/s | {r['seconds']:.2f} s (one run) | | | {ratio} | {check} |")
    pipelined = f"pipelined `-P 64 -n {mat:,} -r {mat:,}`, 50 clients"
    redis_labels = {
        "hset-builtin": ("redis-benchmark `-t hset` (built-in: one hash, random fields)", pipelined, "HSET/s"),
        "hset-row": ("redis-benchmark `hset bench:__rand_int__ _ts … _created … conv_rate … acc_rate … "
                     "avg_daily_trips …` (one hash per entity, row-shaped)", pipelined, "HSET/s"),
        "set-48": ("redis-benchmark `-t set -d 48` (one 48-byte string per entity)", pipelined, "SET/s"),
    }
    for op, (label, how, unit) in redis_labels.items():
        r = res("redis", op)
        if r is None:
            continue
        p(f"| {label} | {how} | {fmt_rate(r['rps'])} {unit} | "
          f"{r['p50_ms']:.3f} ms | {r['p99_ms']:.3f} ms | | | physical reference |")

    onl = {}
    for n in (1, 100):
        for system, label in (("feast", "Feast (`feast serve`)"), ("lathe", "Lathe (`POST /get-online-features`)")):
            o = online(system, n)
            r = res(system, f"online-{n}")
            op = f"online, {n} entit{'y' if n == 1 else 'ies'} × 3 features"
            if o is None:
                if r is not None:
                    p(f"| {label} | {op} | INVALID: {r.get('error')} |  |  |  |  |  |")
                continue
            onl[(system, n)] = o
            f = onl.get(("feast", n))
            ratio = ""
            if f and system != "feast":
                ratio = f"×{o['rps'] / f['rps']:.1f} (per core ×{o['per_core'] / f['per_core']:.1f})"
            c = online_checks.get(system)
            if o["errors"]:
                check = f"INVALID: {o['errors']} errors of {o['requests']:,}"
            elif c is None:
                check = "no sample answer"
            else:
                bad = c["not_present"] + c["value_mismatches"]
                check = (f"{'OK' if bad == 0 else 'INVALID'}: sample of {c['entities']} ids × {c['features']} "
                         f"features vs the source file: {c['value_mismatches']} wrong values, "
                         f"{c['not_present']} not PRESENT")
            rate = fmt_rate(o["rps"]) + " req/s"
            if o["errors"]:
                rate = f"INVALID ({rate})"
            p(f"| {label} | {op} | {rate} | {o['p50']:.3f} ms | {o['p99']:.3f} ms | "
              f"{fmt_rate(o['per_core'])} req/CPU-s ({o['cores']:.2f} cores busy) | {ratio} | {check} |")
    p("")

    # ---- targets
    p("### Targets (computed by the script)")
    p("")
    p("| target | met? | evidence |")
    p("|---|---|---|")

    def yes(ok):
        return "**yes**" if ok else "**no**"

    lathe_hist_ok = hist_check("lathe").startswith("OK")
    if "lathe" in hist and "feast" in hist:
        x = hist["feast"]["median"] / hist["lathe"]["median"]
        p(f"| historical ≥ 10× faster than Feast's file offline store | {yes(x >= 10 and lathe_hist_ok)} | "
          f"median {hist['lathe']['median']:.3f} s vs {hist['feast']['median']:.3f} s: ×{x:.1f}"
          f"{'' if lathe_hist_ok else '; Lathe output INVALID'}"
          f"{'' if hist_check('feast').startswith('OK') else '; Feast output INVALID (see check), its time still stands as the baseline'} |")
    if "lathe" in hist and "duckdb" in hist:
        x = hist["duckdb"]["median"] / hist["lathe"]["median"]
        p(f"| historical no slower than the plain DuckDB ASOF join | {yes(x >= 1 and lathe_hist_ok)} | "
          f"median {hist['lathe']['median']:.3f} s vs {hist['duckdb']['median']:.3f} s: Lathe takes ×{1 / x:.2f} "
          f"DuckDB's time (Lathe's is the CLI end to end, DuckDB's in-process) |")
    if "lathe" in mats and "feast" in mats:
        x = mats["lathe"]["rate"] / mats["feast"]["rate"]
        p(f"| materialization ≥ 40× Feast's keys/s | {yes(x >= 40 and mats['lathe']['keys'] == mat)} | "
          f"{fmt_rate(mats['lathe']['rate'])} vs {fmt_rate(mats['feast']['rate'])} keys/s: ×{x:.1f} |")
    row_hset = res("redis", "hset-row")
    if "lathe" in mats and row_hset:
        x = row_hset["rps"] / mats["lathe"]["rate"]
        builtin = res("redis", "hset-builtin")
        extra = f"; built-in `-t hset` {fmt_rate(builtin['rps'])}/s" if builtin else ""
        st = res("redis", "set-48")
        extra += f"; `-t set -d 48` {fmt_rate(st['rps'])}/s" if st else ""
        p(f"| materialization within 2× of pipelined HSET (redis-benchmark, same run) | {yes(x <= 2)} | "
          f"row-shaped HSET {fmt_rate(row_hset['rps'])}/s vs Lathe {fmt_rate(mats['lathe']['rate'])} keys/s: "
          f"HSET is ×{x:.1f}{extra} |")
    for n in (1, 100):
        lo, fo = onl.get(("lathe", n)), onl.get(("feast", n))
        if lo and fo:
            x = lo["per_core"] / fo["per_core"]
            p(f"| online ≥ 20× Feast's requests/s per core, {n} entit{'y' if n == 1 else 'ies'} | "
              f"{yes(x >= 20 and not lo['errors'])} | {fmt_rate(lo['per_core'])} vs {fmt_rate(fo['per_core'])} "
              f"req/CPU-s: ×{x:.1f} (throughput ×{lo['rps'] / fo['rps']:.1f}) |")
    lo = onl.get(("lathe", 1))
    if lo:
        p(f"| online p99 < 2 ms at 1 entity | {yes(lo['p99'] < 2 and not lo['errors'])} | p99 {lo['p99']:.3f} ms, "
          f"p50 {lo['p50']:.3f} ms at c=8 |")
    p("")

    # ---- the rest
    p("### Run details")
    p("")
    p(f"- Machine: {machine(args.redis)}.")
    p(f"- Versions: Python {v['python']}, Feast {args.feast}, DuckDB {v.get('duckdb', '?')}, pyarrow "
      f"{v.get('pyarrow', '?')}, pandas {v.get('pandas', '?')}, dask {v.get('dask', '?')}, wrk {v['wrk']}.")
    p(f"- Data: {meta['rows']:,} rows ({meta['drivers']:,} drivers × {meta['hours']} hours, {meta['first']} .. "
      f"{meta['last']}); {entity_rows:,} entity rows from {meta['entity_from']} to {meta['entity_to']} "
      f"({meta['unknown_ids']} unknown ids, {meta['on_hour']} on an hour, {meta['at_ttl']} exactly one ttl after "
      f"an hour); {mat:,} entities to materialize; ttl {meta['ttl_hours']} h everywhere; seed {meta['seed']}.")
    p(f"- Historical runs: 1 warm-up, then {args.repeats} timed (Feast: {args.feast_repeats}).")
    p(f"- feast serve flags: `{args.feast_serve_args}`.")
    busy = [r["busy"] for r in rows.values()]
    if busy:
        p(f"- Background CPU, i.e. other processes on this shared machine: before each row (after waiting up to "
          f"{args.quiet_wait} s for it to fall under 25%) median {statistics.median(busy):.0f}%, max {max(busy)}%; "
          "during each row (all busy CPU minus this benchmark's processes and Redis, in % of both cores): "
          + ", ".join(f"{r['system']} {r['op']} {r.get('bg_during', '?')}%" for r in rows.values()) + ".")
        noisy = [f"{r['system']} {r['op']}" for r in rows.values() if max(r["busy"], r.get("bg_during", 0)) >= 25]
        p(f"- Rows disturbed by other processes (25% or more of the CPU before or during the row; treat as noise): "
          f"{', '.join(noisy) if noisy else 'none'}.")
    for (system, n), o in sorted(onl.items()):
        p(f"- Online {system}, {n} entit{'y' if n == 1 else 'ies'}: server {o['cores']:.2f} cores busy, "
          f"Redis {o['redis_cores']:.2f} cores busy during the window.")
    for note in notes:
        p(f"- {note}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
