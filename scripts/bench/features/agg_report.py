#!/usr/bin/env python3
"""Turns what aggregations.sh measured and checked into the Markdown it prints.

    agg_report.py RESULTS.jsonl CHECKS.jsonl NOTES.txt META.json --started ... (see aggregations.sh)

results.jsonl: {"system", "op", "busy", "bg_during", "result"}, op one of
  historical: {"seconds": [...], "warmup": [...], ...}; DuckDB adds "peak_rss_mib", "rows",
    "threads", "version"; Lathe adds "rss_before_mib", "peak_rss_mib", "peak_reset",
    "startup_peak_rss_mib" (the standalone server's);
  materialize-VIEW: {"seconds", "answer"}; online-plain / online-agg: {"requests",
    "duration_us", "p50_us", "p99_us", "errors", "server_cpu_s", "redis_cpu_s"};
  any row may be {"error": "..."} instead.
checks.jsonl: {"check": "historical" | "selftest" | "online-plain" | "online-agg", "result"}.
"""

import argparse
import json
import os
import platform
import statistics


def load_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def fmt_rate(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def yes(ok):
    return "**yes**" if ok else "**no**"


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    return f"{os.cpu_count()} CPUs ({cpu}), {mem_kib / 1024 / 1024:.1f} GiB RAM, Linux {platform.release()}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("checks")
    ap.add_argument("notes")
    ap.add_argument("meta")
    for name in ("started", "minutes", "lathe", "lathe-status", "source-mib", "redis-db", "duration", "warmup",
                 "repeats", "quiet-wait", "threads", "conns"):
        ap.add_argument(f"--{name}", required=True)
    args = ap.parse_args()

    rows = {(r["system"], r["op"]): r for r in load_jsonl(args.results)}
    checks = {}
    for c in load_jsonl(args.checks):
        key = c["check"] if c["check"] != "historical" else f"historical-{c['result'].get('name')}"
        checks[key] = c["result"]
    with open(args.meta) as f:
        meta = json.load(f)
    with open(args.notes) as f:
        notes = [line.strip() for line in f if line.strip()]
    entity_rows = meta["entity_rows"]
    source_mib = float(args.source_mib)

    def res(system, op):
        r = rows.get((system, op))
        return r["result"] if r else None

    hist = {}
    for system in ("duckdb", "lathe"):
        r = res(system, "historical")
        if r and r.get("seconds"):
            hist[system] = {"median": statistics.median(r["seconds"]), "min": min(r["seconds"]),
                            "n": len(r["seconds"]), "peak": r.get("peak_rss_mib"), "raw": r}

    def hist_check(system):
        c = checks.get(f"historical-{'reference' if system == 'duckdb' else system}")
        if not c:
            return "not checked"
        if system == "duckdb":
            bf = c["brute_force"]
            if "error" in bf:
                return f"INVALID: {bf['error']}"
            return (f"{'OK' if c['ok'] else 'INVALID'}: {c['rows']:,} rows ({c['empty_7d_rows']:,} with every window "
                    f"empty); vs a brute force on {bf['checked']:,} rows ({bf['on_minute']:,} on a minute, "
                    f"{bf['at_event_time']:,} at an event time): {bf['mismatches']} mismatches")
        if c["ok"]:
            return (f"OK: {c['rows']:,} rows in input order, every aggregation equal to DuckDB's "
                    "(counts exact, floats to 1e-9, NULLs in the same places)")
        return "INVALID: " + "; ".join(c["problems"])

    out = []
    p = out.append
    p("### Results (as printed by the run)")
    p("")
    p(f"Started {args.started}; the whole run took {args.minutes} min. Lathe: {args.lathe}"
      f"{'' if args.lathe_status == 'ok' else f' — not run: {args.lathe_status}'}.")
    p("")
    p(f"Historical: {entity_rows:,} entity rows × 4 aggregations (fare sum 1 h, trip_id count 1 d, fare mean 7 d, "
      f"fare max 7 d) over {meta['events']:,} events; median and fastest of the timed runs after one warm-up. "
      "Peak RSS: DuckDB's whole Python process (getrusage); Lathe's `lathe standalone` server (VmHWM, reset just "
      "before the runs, so start-up does not count). Online: wrk "
      f"-t{args.threads} -c{args.conns}, {args.duration} s measured after {args.warmup} s of warm-up, 1 entity × 4 "
      "features per request, `POST /get-online-features`.")
    p("")
    p("| system | operation | median (batch) / req/s (online) | fastest (batch) / p50 · p99 (online) | rows/s | peak RSS | vs DuckDB / vs plain | check |")
    p("|---|---|---|---|---|---|---|---|")
    op_hist = f"historical, {entity_rows:,} rows × 4 aggregations"
    labels = {"duckdb": "DuckDB (range join, agg_duckdb.py)", "lathe": "Lathe (`lathe features historical`)"}
    for system in ("duckdb", "lathe"):
        h = hist.get(system)
        if h is None:
            err = (res(system, "historical") or {}).get("error", "not run")
            p(f"| {labels[system]} | {op_hist} | INVALID: {err} |  |  |  |  |  |")
            continue
        peak = f"{h['peak']:,.0f} MiB" if h["peak"] is not None else "?"
        if system == "lathe":
            peak += f" ({h['raw'].get('rss_before_mib', '?')} MiB before the runs)"
        ratio = ""
        if system == "lathe" and "duckdb" in hist:
            ratio = f"×{h['median'] / hist['duckdb']['median']:.2f} DuckDB's time"
        check = hist_check(system)
        median = f"{h['median']:.3f} s (median of {h['n']})"
        if system == "lathe" and not check.startswith("OK"):
            median = f"INVALID ({median})"
        p(f"| {labels[system]} | {op_hist} | {median} | {h['min']:.3f} s | {fmt_rate(entity_rows / h['median'])} | "
          f"{peak} | {ratio} | {check} |")

    onl = {}
    for view, label in (("plain", "plain view `driver_plain`"), ("agg", "aggregated view `driver_trips`")):
        r = res("lathe", f"online-{view}")
        op = f"online, {label}"
        if r is None:
            continue
        if "requests" not in r:
            p(f"| Lathe (`POST /get-online-features`) | {op} | INVALID: {r.get('error')} |  |  |  |  |  |")
            continue
        secs = r["duration_us"] / 1e6
        o = {"rps": r["requests"] / secs, "p50": r["p50_us"] / 1000, "p99": r["p99_us"] / 1000,
             "errors": r["errors"], "requests": r["requests"], "cores": r["server_cpu_s"] / secs}
        c = checks.get(f"online-{view}")
        if o["errors"]:
            check = f"INVALID: {o['errors']} errors of {o['requests']:,}"
        elif c is None:
            check = "no sample answer"
        else:
            want = ("the source rows" if view == "plain"
                    else "DuckDB's aggregations at the moment the sample was read")
            check = (f"{'OK' if c['ok'] else 'INVALID'}: sample of {c['entities']} ids × {c['features']} features vs "
                     f"{want}: {c['value_mismatches']} wrong values"
                     + (f" (e.g. {json.dumps(c['examples'][:2])})" if c["examples"] else ""))
        o["ok"] = check.startswith("OK")
        onl[view] = o
        ratio = ""
        if view == "agg" and "plain" in onl:
            pl = onl["plain"]
            ratio = f"p50 ×{o['p50'] / pl['p50']:.2f}, p99 ×{o['p99'] / pl['p99']:.2f}, req/s ×{o['rps'] / pl['rps']:.2f}"
        rate = f"{fmt_rate(o['rps'])} req/s"
        if not o["ok"]:
            rate = f"INVALID ({rate})"
        p(f"| Lathe (`POST /get-online-features`) | {op} | {rate} | {o['p50']:.3f} ms · {o['p99']:.3f} ms | | "
          f"({o['cores']:.2f} cores busy) | {ratio} | {check} |")
    p("")

    p("### Targets (computed by the script)")
    p("")
    p("| target | met? | evidence |")
    p("|---|---|---|")
    lathe_ok = hist_check("lathe").startswith("OK")
    if "lathe" in hist and "duckdb" in hist:
        x = hist["lathe"]["median"] / hist["duckdb"]["median"]
        p(f"| historical no slower than DuckDB | {yes(x <= 1 and lathe_ok)} | median {hist['lathe']['median']:.3f} s "
          f"vs {hist['duckdb']['median']:.3f} s: Lathe takes ×{x:.2f} DuckDB's time (Lathe's is the CLI end to end, "
          f"DuckDB's in-process){'' if lathe_ok else '; Lathe output INVALID'} |")
        raw = hist["lathe"]["raw"]
        if raw.get("peak_rss_mib") is not None:
            grew = raw["peak_rss_mib"] - raw.get("rss_before_mib", 0)
            p(f"| memory bounded by the events of one key range, not the whole source | {yes(grew < source_mib)} | "
              f"the server's RSS grew by {grew:,} MiB during the runs (peak {raw['peak_rss_mib']:,} MiB"
              f"{'' if raw.get('peak_reset') else ', VmHWM could not be reset: the peak includes start-up'}); the "
              f"columns a retrieval needs take {source_mib:,.0f} MiB decoded for the whole source, so a reader holding "
              f"every event at once cannot stay under that (DuckDB's process peaked at "
              f"{hist['duckdb']['peak'] or 0:,.0f} MiB) |")
    else:
        p(f"| historical no slower than DuckDB | not measured | {(res('lathe', 'historical') or {}).get('error', 'no Lathe row')} |")
    if "plain" in onl and "agg" in onl:
        pl, ag = onl["plain"], onl["agg"]
        ok = ag["p50"] <= 1.5 * pl["p50"] and ag["p99"] <= 1.5 * pl["p99"] and ag["ok"] and pl["ok"]
        p(f"| online reads of aggregated views within 1.5× of plain views (latency) | {yes(ok)} | p50 "
          f"{ag['p50']:.3f} vs {pl['p50']:.3f} ms (×{ag['p50'] / pl['p50']:.2f}), p99 {ag['p99']:.3f} vs "
          f"{pl['p99']:.3f} ms (×{ag['p99'] / pl['p99']:.2f}); {fmt_rate(ag['rps'])} vs {fmt_rate(pl['rps'])} req/s |")
    else:
        p(f"| online reads of aggregated views within 1.5× of plain views | not measured | "
          f"{(res('lathe', 'online-agg') or {}).get('error', 'no aggregated online row')} |")
    p("")

    p("### Run details")
    p("")
    p(f"- Machine: {machine()}.")
    d = res("duckdb", "historical") or {}
    p(f"- DuckDB {d.get('version', '?')}, {d.get('threads', '?')} threads (its default); Python "
      f"{platform.python_version()}; Redis db {args.redis_db} for the online store.")
    p(f"- Data: {meta['events']:,} events ({meta['drivers']:,} drivers, {meta['days']} days, {meta['first']} .. "
      f"{meta['last']}, {meta['files']} shuffled Parquet files, {meta['fare_nulls']:,} null fares, "
      f"{meta['trip_id_nulls']:,} null trip_ids; decoded {source_mib:,.0f} MiB); {entity_rows:,} entity rows "
      f"({meta['unknown_ids']:,} unknown ids, {meta['before_data']:,} before the data, {meta['after_data']:,} after "
      f"it, {meta['at_event_time']:,} at an event time, {meta['on_tile']:,} on a minute or an hour, "
      f"{meta['duplicates']:,} duplicates); seed {meta['seed']}.")
    p(f"- Historical runs: 1 warm-up, then {args.repeats} timed.")
    for view in ("driver_plain", "driver_trips"):
        r = res("lathe", f"materialize-{view}")
        if r:
            p(f"- Materialization of {view} over [{meta['first']}, {meta['last']}]: "
              + (f"{r['seconds']:.2f} s, answer {json.dumps(r.get('answer'))}." if "seconds" in r
                 else f"failed: {r['error']}."))
    st = checks.get("selftest")
    if st:
        p(f"- Checker self-test (agg_check.py on corrupted copies of DuckDB's output): "
          f"{'OK' if st.get('ok') else 'FAILED: ' + ', '.join(st.get('failures', []))}.")
    busy = [r for r in rows.values() if "error" not in r["result"]]
    if busy:
        p(f"- Background CPU (other processes on this shared machine) before each row, after waiting up to "
          f"{args.quiet_wait} s for it to fall under 25%, and during it: "
          + ", ".join(f"{r['system']} {r['op']} {r['busy']}% / {r.get('bg_during', '?')}%" for r in busy) + ".")
        noisy = [f"{r['system']} {r['op']}" for r in busy if max(r["busy"], r.get("bg_during", 0)) >= 25]
        p(f"- Rows disturbed by other processes (25% or more of the CPU; treat as noise): "
          f"{', '.join(noisy) if noisy else 'none'}.")
    for note in notes:
        p(f"- {note}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
