#!/usr/bin/env python3
"""The glue a team runs today, as a load generator (run with .tools/bench-serving-feast's Python).

    glue.py load  --feast URL --mlflow URL --entities N --max-id M [--concurrency 8]
                  [--duration 10] [--warmup 2]
    glue.py check --feast URL --mlflow URL --ids 1,2,3

Each request does what a team's glue does per prediction: Feast's online read over its
feature server (`POST /get-online-features` of `feast serve`, the 3 features of N entities),
the answer turned into rows, then `POST /invocations` of `mlflow models serve` with those
rows as `dataframe_split`; the request counts once both answered 200 with a value for every
feature and a prediction for every entity. `--concurrency` requests run at once (one asyncio
event loop, keep-alive connections), a closed loop like wrk's connections; entity ids rotate
through 1..M as scripts/bench/serving/request.lua rotates them.

load prints one line in the shape of request.lua's:
    RESULT requests=… duration_us=… p50_us=… p90_us=… p99_us=… max_us=… non2xx=… connect=0
           read=… write=0 timeout=… feast_p50_us=… mlflow_p50_us=…
where non2xx counts answers that were not 200 or lacked values, read counts transport errors.
check prints the JSON answer of one request (MLflow's predictions, with the features used).
"""

import argparse
import asyncio
import json
import time

import aiohttp

FEATURES = ["stats:f0", "stats:f1", "stats:f2"]
COLUMNS = ["f0", "f1", "f2"]


class BadAnswer(Exception):
    pass


async def predict(session, feast, mlflow, ids, timings):
    t0 = time.perf_counter()
    body = {"features": FEATURES, "entities": {"driver_id": ids}}
    async with session.post(f"{feast}/get-online-features", json=body) as r:
        if r.status != 200:
            raise BadAnswer(f"feast answered {r.status}: {(await r.text())[:200]}")
        online = await r.json(content_type=None)
    names = online["metadata"]["feature_names"]
    columns = {name: result["values"] for name, result in zip(names, online["results"])}
    try:
        rows = [list(v) for v in zip(*(columns[c] for c in COLUMNS))]
    except KeyError as e:
        raise BadAnswer(f"feast answered no column {e}") from None
    if len(rows) != len(ids) or any(v is None for row in rows for v in row):
        raise BadAnswer(f"feast answered missing values: {json.dumps(online)[:300]}")
    t1 = time.perf_counter()
    payload = {"dataframe_split": {"columns": COLUMNS, "data": rows}}
    async with session.post(f"{mlflow}/invocations", json=payload) as r:
        if r.status != 200:
            raise BadAnswer(f"mlflow answered {r.status}: {(await r.text())[:200]}")
        scored = await r.json(content_type=None)
    predictions = scored.get("predictions")
    if not isinstance(predictions, list) or len(predictions) != len(ids):
        raise BadAnswer(f"mlflow answered {json.dumps(scored)[:300]}")
    t2 = time.perf_counter()
    if timings is not None:
        timings.append((t2 - t0, t1 - t0, t2 - t1))
    return rows, predictions


def percentile(sorted_values, p):
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


async def load(args):
    connector = aiohttp.TCPConnector(limit=args.concurrency * 2, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    counts = {"non2xx": 0, "read": 0, "timeout": 0}
    errors = []
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        async def worker(tid, deadline, timings):
            k = 0
            while time.perf_counter() < deadline:
                k += 1
                first = (tid * 7919 + k * 104729 * args.entities) % args.max_id
                ids = [(first + i) % args.max_id + 1 for i in range(args.entities)]
                try:
                    await predict(session, args.feast, args.mlflow, ids, timings)
                except BadAnswer as e:
                    if timings is not None:
                        counts["non2xx"] += 1
                        errors.append(str(e))
                except asyncio.TimeoutError:
                    if timings is not None:
                        counts["timeout"] += 1
                except aiohttp.ClientError as e:
                    if timings is not None:
                        counts["read"] += 1
                        errors.append(repr(e))

        if args.warmup > 0:
            deadline = time.perf_counter() + args.warmup
            await asyncio.gather(*(worker(t, deadline, None) for t in range(args.concurrency)))
        timings = []
        start = time.perf_counter()
        deadline = start + args.duration
        await asyncio.gather(*(worker(t + 1, deadline, timings) for t in range(args.concurrency)))
        elapsed = time.perf_counter() - start
    total = sorted(t[0] for t in timings)
    feast = sorted(t[1] for t in timings)
    mlflow = sorted(t[2] for t in timings)
    us = lambda s: int(s * 1e6)  # noqa: E731
    print(
        f"RESULT requests={len(timings) + sum(counts.values())} duration_us={us(elapsed)} "
        f"p50_us={us(percentile(total, 50))} p90_us={us(percentile(total, 90))} "
        f"p99_us={us(percentile(total, 99))} max_us={us(total[-1] if total else 0)} "
        f"non2xx={counts['non2xx']} connect=0 read={counts['read']} write=0 timeout={counts['timeout']} "
        f"feast_p50_us={us(percentile(feast, 50))} mlflow_p50_us={us(percentile(mlflow, 50))}"
    )
    for e in errors[:5]:
        print(f"ERROR {e}")


async def check(args):
    ids = [int(x) for x in args.ids.split(",")]
    async with aiohttp.ClientSession() as session:
        rows, predictions = await predict(session, args.feast, args.mlflow, ids, None)
    print(json.dumps({"features": rows, "predictions": predictions}))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command", required=True)
    lo = sub.add_parser("load")
    ch = sub.add_parser("check")
    for p in (lo, ch):
        p.add_argument("--feast", required=True)
        p.add_argument("--mlflow", required=True)
    lo.add_argument("--entities", type=int, required=True)
    lo.add_argument("--max-id", type=int, required=True)
    lo.add_argument("--concurrency", type=int, default=8)
    lo.add_argument("--duration", type=float, default=10)
    lo.add_argument("--warmup", type=float, default=2)
    ch.add_argument("--ids", required=True)
    args = ap.parse_args()
    asyncio.run({"load": load, "check": check}[args.command](args))


if __name__ == "__main__":
    main()
