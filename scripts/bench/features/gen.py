#!/usr/bin/env python3
"""Generates the feature-store benchmark's data (fixed seed), as Parquet, into OUT_DIR.

    gen.py OUT_DIR [--drivers 10000] [--hours 100] [--entity-rows 100000] [--mat-entities 1000000]
           [--ttl-hours 24] [--end RFC3339]

- driver_stats.parquet: the classic Feast driver stats, DRIVERS x HOURS hourly rows ending at
  END (default: the current hour), so online reads stay within the ttl. Columns: driver_id
  int64, event_timestamp and created timestamp[us, UTC] (created = event time + 0..3599 s),
  conv_rate float32, acc_rate float32, avg_daily_trips int64.
- entities.parquet: the entity frame for historical retrieval: row_id int64 (0..N-1, carried
  through so outputs can be compared row by row), driver_id int64 (from the drivers, plus
  ~0.5% unknown ids), event_timestamp timestamp[us, UTC]. Times are random (to the
  microsecond) from 6 h before the first row to 30 h after the last, so some rows have no
  candidate (before the data, or past the ttl after it); ~1% sit exactly on an hour and ~0.5%
  exactly one ttl after an hour, to check that both window ends are inclusive.
- driver_stats_mat.parquet: MAT_ENTITIES distinct drivers (ids 1..MAT_ENTITIES), one row each,
  event time within the ttl before END, for materialization and online serving.
- meta.json: the parameters, for the report.
"""

import argparse
import datetime as dt
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HOUR_US = 3_600_000_000
SEED = 20261129
FIRST_DRIVER = 1001
UNKNOWN_DRIVER = 90_000_000


def ts_array(us):
    return pa.array(us, type=pa.timestamp("us", tz="UTC"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--drivers", type=int, default=10_000)
    ap.add_argument("--hours", type=int, default=100)
    ap.add_argument("--entity-rows", type=int, default=100_000)
    ap.add_argument("--mat-entities", type=int, default=1_000_000)
    ap.add_argument("--ttl-hours", type=int, default=24)
    ap.add_argument("--end", help="last hour of the data (RFC 3339); default: the current hour")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(SEED)

    if args.end:
        end = dt.datetime.fromisoformat(args.end.replace("Z", "+00:00"))
    else:
        end = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    end_us = int(end.timestamp()) * 1_000_000
    start_us = end_us - (args.hours - 1) * HOUR_US
    ttl_us = args.ttl_hours * HOUR_US

    # driver_stats: hour-major, so the file is in time order as a log would be.
    drivers = np.arange(FIRST_DRIVER, FIRST_DRIVER + args.drivers, dtype=np.int64)
    n = args.drivers * args.hours
    driver_id = np.tile(drivers, args.hours)
    event_us = np.repeat(start_us + np.arange(args.hours, dtype=np.int64) * HOUR_US, args.drivers)
    created_us = event_us + rng.integers(0, 3600, n, dtype=np.int64) * 1_000_000
    stats = pa.table({
        "driver_id": pa.array(driver_id),
        "event_timestamp": ts_array(event_us),
        "created": ts_array(created_us),
        "conv_rate": pa.array(rng.random(n, dtype=np.float32)),
        "acc_rate": pa.array(rng.random(n, dtype=np.float32)),
        "avg_daily_trips": pa.array(rng.integers(0, 1000, n, dtype=np.int64)),
    })
    pq.write_table(stats, os.path.join(args.out, "driver_stats.parquet"), row_group_size=128 * 1024)

    # Entity frame.
    m = args.entity_rows
    ent_driver = rng.choice(drivers, m)
    unknown = rng.random(m) < 0.005
    ent_driver[unknown] = UNKNOWN_DRIVER + rng.integers(0, 1000, unknown.sum())
    lo, hi = start_us - 6 * HOUR_US, end_us + 30 * HOUR_US
    ent_us = rng.integers(lo, hi, m, dtype=np.int64)
    hours_in = rng.integers(0, args.hours, m, dtype=np.int64)
    pick = rng.random(m)
    on_hour = pick < 0.01
    ent_us[on_hour] = start_us + hours_in[on_hour] * HOUR_US
    at_ttl = (pick >= 0.01) & (pick < 0.015)
    ent_us[at_ttl] = start_us + hours_in[at_ttl] * HOUR_US + ttl_us
    # (driver_id, event_timestamp) pairs must be unique: systems may order or merge equal rows.
    seen = set()
    for i in range(m):
        while (int(ent_driver[i]), int(ent_us[i])) in seen:
            ent_us[i] += 1
        seen.add((int(ent_driver[i]), int(ent_us[i])))
    entities = pa.table({
        "row_id": pa.array(np.arange(m, dtype=np.int64)),
        "driver_id": pa.array(ent_driver),
        "event_timestamp": ts_array(ent_us),
    })
    pq.write_table(entities, os.path.join(args.out, "entities.parquet"))

    # Materialization source: one row per driver, within the ttl before `end`.
    k = args.mat_entities
    mat_us = end_us - rng.integers(0, ttl_us // 2, k, dtype=np.int64)
    mat = pa.table({
        "driver_id": pa.array(np.arange(1, k + 1, dtype=np.int64)),
        "event_timestamp": ts_array(mat_us),
        "created": ts_array(mat_us),
        "conv_rate": pa.array(rng.random(k, dtype=np.float32)),
        "acc_rate": pa.array(rng.random(k, dtype=np.float32)),
        "avg_daily_trips": pa.array(rng.integers(0, 1000, k, dtype=np.int64)),
    })
    pq.write_table(mat, os.path.join(args.out, "driver_stats_mat.parquet"), row_group_size=128 * 1024)

    meta = {
        "seed": SEED, "drivers": args.drivers, "hours": args.hours, "rows": n,
        "entity_rows": m, "unknown_ids": int(unknown.sum()), "on_hour": int(on_hour.sum()),
        "at_ttl": int(at_ttl.sum()), "mat_entities": k, "ttl_hours": args.ttl_hours,
        "first": dt.datetime.fromtimestamp(start_us / 1e6, dt.timezone.utc).isoformat(),
        "last": end.isoformat(),
        "entity_from": dt.datetime.fromtimestamp(lo / 1e6, dt.timezone.utc).isoformat(),
        "entity_to": dt.datetime.fromtimestamp(hi / 1e6, dt.timezone.utc).isoformat(),
        "mat_from": dt.datetime.fromtimestamp((end_us - ttl_us // 2) / 1e6, dt.timezone.utc).isoformat(),
    }
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
