#!/usr/bin/env python3
"""Markdown tables of the serving benchmark, from run.sh's results.jsonl, checks.jsonl and notes.

    report.py RESULTS CHECKS NOTES --started … --lathe … (run.sh passes every option)

A phase with any error (an answer other than 200, a socket error, a timeout) or no request is
INVALID: it shows no figure and no ratio is computed from it.
"""

import argparse
import json
import statistics


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def ms(us):
    return f"{us / 1000:.3f}"


def valid(r):
    return r is not None and r["errors"] == 0 and r["requests"] > 0


def rps(r):
    return r["requests"] / (r["duration_us"] / 1e6)


def server_cpu(r, with_redis=True):
    return sum(v for k, v in r["cpu_s"].items() if with_redis or k != "redis")


def per_cpu(r, with_redis=True):
    cpu = server_cpu(r, with_redis)
    return r["requests"] / cpu if cpu > 0 else float("inf")


def figures(r):
    if r is None:
        return "not measured", "", "", ""
    if not valid(r):
        return f"INVALID ({r['errors']} errors in {r['requests']} requests)", "", "", ""
    return f"{rps(r):,.1f}", ms(r["p50_us"]), ms(r["p99_us"]), f"{per_cpu(r):,.0f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("checks")
    ap.add_argument("notes")
    for opt in ("started", "minutes", "lathe", "feast", "mlflow", "sklearn", "redis", "redis-db", "duration",
                "warmup", "conns", "threads", "entities", "glue-workers", "quiet-wait", "machine"):
        ap.add_argument(f"--{opt}", required=True)
    a = ap.parse_args()
    rows = load(a.results)
    checks = load(a.checks)
    notes = [line.rstrip() for line in open(a.notes) if line.strip()]

    def find(system, op, model, n):
        for r in rows:
            if (r["system"], r["op"], r["model"], r["entities"]) == (system, op, model, n):
                return r
        return None

    out = []
    w = out.append
    w(f"Serving benchmark, started {a.started}, {a.minutes} min. Machine: {a.machine}.")
    w("")
    w(f"Lathe: {a.lathe}. Glue: Feast {a.feast} (`feast serve -w {a.glue_workers}`) then MLflow {a.mlflow} "
      f"(`mlflow models serve --env-manager local -w {a.glue_workers}`), scikit-learn {a.sklearn}. "
      f"Online store of both: Redis {a.redis} on 127.0.0.1:6379, db {a.redis_db}. "
      f"{a.entities} entities × 3 float32 features. Each phase: {a.duration} s after {a.warmup} s of warm-up, "
      f"{a.conns} requests in flight (Lathe and Feast alone: wrk -t{a.threads} -c{a.conns}; the glue: glue.py, "
      f"{a.conns} concurrent asyncio requests). Latencies in ms. req/CPU-s: requests ÷ CPU seconds (user+sys) "
      f"of the system's server processes and Redis during the phase.")
    w("")
    w("| model | entities | Lathe predict req/s | p50 | p99 | req/CPU-s | glue req/s | p50 | p99 | req/CPU-s "
      "| req/CPU-s ÷ glue | ≥ ×20? | req/s ÷ glue |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    met_cpu = []
    for model in ("logreg", "gbc"):
        for n in (1, 100):
            lathe, glue = find("lathe", "predict", model, n), find("glue", "predict", model, n)
            ratio, ok, speed = "—", "—", "—"
            if valid(lathe) and valid(glue):
                x = per_cpu(lathe) / per_cpu(glue)
                ratio, ok, speed = f"×{x:.1f}", "yes" if x >= 20 else "**no**", f"×{rps(lathe) / rps(glue):.1f}"
                met_cpu.append(x >= 20)
            w(f"| {model} | {n} | {' | '.join(figures(lathe))} | {' | '.join(figures(glue))} | {ratio} | {ok} | {speed} |")
    w("")
    w("Predict's p50 against Lathe's online feature read alone (`POST …/features/online`, the same "
      "entities and features), same concurrency. Target: at most ×1.5.")
    w("")
    w("| model | entities | online read req/s | p50 | p99 | predict p50 | predict p50 ÷ online p50 | ≤ ×1.5? |")
    w("|---|---|---|---|---|---|---|---|")
    met_p50 = []
    for model in ("logreg", "gbc"):
        for n in (1, 100):
            online, pred = find("lathe", "online", "", n), find("lathe", "predict", model, n)
            f = figures(online)
            ratio, ok, p = "—", "—", "—"
            if valid(pred):
                p = ms(pred["p50_us"])
            if valid(online) and valid(pred):
                x = pred["p50_us"] / online["p50_us"]
                ratio, ok = f"×{x:.2f}", "yes" if x <= 1.5 else "**no**"
                met_p50.append(x <= 1.5)
            w(f"| {model} | {n} | {f[0]} | {f[1]} | {f[2]} | {p} | {ratio} | {ok} |")
    w("")
    w("The same two calls one request at a time (wrk -t1 -c1), so no request waits behind another: "
      "the latency of the call itself.")
    w("")
    w("| model | entities | online read p50 | p99 | predict p50 | p99 | predict p50 ÷ online p50 |")
    w("|---|---|---|---|---|---|---|")
    for model in ("logreg", "gbc"):
        for n in (1, 100):
            online, pred = find("lathe", "online-c1", "", n), find("lathe", "predict-c1", model, n)
            o = (ms(online["p50_us"]), ms(online["p99_us"])) if valid(online) else ("—", "—")
            p = (ms(pred["p50_us"]), ms(pred["p99_us"])) if valid(pred) else ("—", "—")
            ratio = f"×{pred['p50_us'] / online['p50_us']:.2f}" if valid(online) and valid(pred) else "—"
            w(f"| {model} | {n} | {o[0]} | {o[1]} | {p[0]} | {p[1]} | {ratio} |")
    w("")
    w(f"Targets met: requests per CPU-second ≥ ×20 the glue's in {sum(met_cpu)} of {len(met_cpu)} rows; "
      f"predict p50 ≤ ×1.5 the online read's in {sum(met_p50)} of {len(met_p50)} rows.")
    w("")
    w("Where the glue's time goes: its request's p50 split into Feast's online read and MLflow's "
      "/invocations (inside glue.py), and `feast serve`'s online read alone under wrk.")
    w("")
    w("| model | entities | glue p50 | of which Feast | of which MLflow | Feast alone (wrk) req/s | p50 | p99 | req/CPU-s |")
    w("|---|---|---|---|---|---|---|---|---|")
    for model in ("logreg", "gbc"):
        for n in (1, 100):
            glue, feast = find("glue", "predict", model, n), find("feast", "online", "", n)
            g = (ms(glue["p50_us"]), ms(glue["feast_p50_us"]), ms(glue["mlflow_p50_us"])) if valid(glue) else ("—",) * 3
            f = figures(feast)
            w(f"| {model} | {n} | {' | '.join(g)} | {f[0]} | {f[1]} | {f[2]} | {f[3]} |")
    w("")
    w("Every phase: CPU seconds of each server process tree, of Redis and of the load generator; "
      "background = the machine's other processes, in % of all cores, before the phase (1 s reading) "
      "and during it.")
    w("")
    w("| system | call | model | entities | requests | errors | servers CPU-s | Redis CPU-s | req/CPU-s (no Redis) "
      "| client CPU-s | background before / during |")
    w("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        servers = ", ".join(f"{k} {v:.2f}" for k, v in r["cpu_s"].items() if k != "redis")
        noredis = f"{per_cpu(r, False):,.0f}" if valid(r) else "INVALID"
        w(f"| {r['system']} | {r['op']} | {r['model'] or '—'} | {r['entities']} | {r['requests']} | {r['errors']} "
          f"| {servers} | {r['cpu_s'].get('redis', 0):.2f} | {noredis} | {r['client_cpu_s']:.2f} "
          f"| {r['busy_before']}% / {r['background_during']}% |")
    w("")
    before = [r["busy_before"] for r in rows]
    during = [r["background_during"] for r in rows]
    if rows:
        w(f"Background CPU: before the phases median {statistics.median(before):.0f}%, max {max(before)}%; "
          f"during them median {statistics.median(during):.0f}%, max {max(during)}% (quiet wait up to {a.quiet_wait} s "
          f"for under 25%).")
        w("")
    w("Checks (one request of 100 entities per system, against scikit-learn's own `predict` / `predict_proba`):")
    w("")
    for c in checks:
        res = c["result"]
        state = "ok" if res["ok"] else "FAILED: " + "; ".join(res["problems"])
        w(f"- {c['check']}: {state} ({res['checked']} entities)")
    w("")
    for n in notes:
        w(f"- {n}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
