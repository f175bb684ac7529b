#!/usr/bin/env python3
"""Generates the aggregation benchmark's data (fixed seed), as Parquet, into OUT_DIR.

    agg_gen.py OUT_DIR [--events 10000000] [--drivers 10000] [--days 30] [--entity-rows 100000]
               [--files 8] [--end RFC3339]

- trips/part-NN.parquet: EVENTS trip events of drivers 1..DRIVERS (some drivers far busier
  than others) at random microseconds over DAYS days ending at END (default: the current
  hour), so no event sits on a tile boundary except by chance. Columns: driver_id int64,
  event_timestamp timestamp[us, UTC], trip_id int64 (~0.5% null), fare float64 (~1% null).
  Shuffled, then cut into FILES files of uneven size: no file and no run of rows is in time
  or key order, so a reader must not rely on either.
- entities.parquet: the entity frame: row_id int64 (0..N-1, carried through so outputs are
  compared row by row), driver_id int64, event_timestamp timestamp[us, UTC]. Most rows are a
  known driver at a random time inside the data; the others probe the edges: ~2.5% unknown
  ids, ~2.5% before the first event (every window empty), ~2.5% up to 8 days after the last
  (short windows empty, the 7 d one draining), ~1% exactly at one of the driver's event
  times (the upper window end is inclusive), ~1% exactly on a minute or an hour (a tile
  start), ~0.5% exact copies of another row (duplicates are kept, one output row each).
- driver_plain.parquet: one row per driver (time within the day before the last event) with
  four float64 features, for the plain online view the aggregated one is compared with.
- meta.json: the parameters and counts, for the report.
"""

import argparse
import datetime as dt
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SECOND_US = 1_000_000
MINUTE_US = 60 * SECOND_US
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US
SEED = 20261205
UNKNOWN_DRIVER = 90_000_000


def ts_array(us):
    return pa.array(us, type=pa.timestamp("us", tz="UTC"))


def iso(us):
    return dt.datetime.fromtimestamp(us / 1e6, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--drivers", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--entity-rows", type=int, default=100_000)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--end", help="end of the data (RFC 3339); default: the current hour")
    args = ap.parse_args()
    rng = np.random.default_rng(SEED)

    if args.end:
        end = dt.datetime.fromisoformat(args.end.replace("Z", "+00:00"))
    else:
        end = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    end_us = int(end.timestamp()) * SECOND_US
    start_us = end_us - args.days * DAY_US

    # ---- events
    n = args.events
    drivers = np.arange(1, args.drivers + 1, dtype=np.int64)
    # Gamma(2) activity: most drivers near the mean, a tail of drivers several times busier.
    weight = rng.gamma(2.0, 1.0, args.drivers)
    driver_id = rng.choice(drivers, n, p=weight / weight.sum())
    event_us = rng.integers(start_us, end_us, n, dtype=np.int64)
    trip_id = rng.permutation(n).astype(np.int64) + 1
    fare = np.round(rng.lognormal(2.5, 0.6, n), 2)
    fare_null = rng.random(n) < 0.01
    trip_null = rng.random(n) < 0.005
    order = rng.permutation(n)  # already random, but make the intent explicit
    events = pa.table({
        "driver_id": pa.array(driver_id[order]),
        "event_timestamp": ts_array(event_us[order]),
        "trip_id": pa.array(trip_id[order], mask=trip_null[order]),
        "fare": pa.array(fare[order], mask=fare_null[order]),
    })
    trips = os.path.join(args.out, "trips")
    os.makedirs(trips, exist_ok=True)
    for name in os.listdir(trips):
        os.remove(os.path.join(trips, name))
    cuts = np.sort(rng.choice(np.arange(1, n), args.files - 1, replace=False)) if n > args.files else []
    bounds = [0, *cuts.tolist(), n] if len(cuts) else [0, n]
    for k in range(len(bounds) - 1):
        part = events.slice(bounds[k], bounds[k + 1] - bounds[k])
        pq.write_table(part, os.path.join(trips, f"part-{k:02d}.parquet"), row_group_size=256 * 1024)

    # ---- entity frame
    m = args.entity_rows
    ent_driver = rng.choice(drivers, m)
    ent_us = rng.integers(start_us, end_us, m, dtype=np.int64)
    pick = rng.random(m)
    unknown = pick < 0.025
    ent_driver[unknown] = UNKNOWN_DRIVER + rng.integers(0, 1000, unknown.sum())
    before = (pick >= 0.025) & (pick < 0.05)
    ent_us[before] = start_us - rng.integers(1, 8 * DAY_US, before.sum(), dtype=np.int64)
    after = (pick >= 0.05) & (pick < 0.075)
    ent_us[after] = end_us + rng.integers(0, 8 * DAY_US, after.sum(), dtype=np.int64)
    at_event = (pick >= 0.075) & (pick < 0.085)
    chosen = rng.integers(0, n, at_event.sum())
    ent_driver[at_event] = driver_id[chosen]
    ent_us[at_event] = event_us[chosen]
    on_tile = (pick >= 0.085) & (pick < 0.095)
    unit = np.where(rng.random(on_tile.sum()) < 0.5, MINUTE_US, HOUR_US)
    ent_us[on_tile] = ent_us[on_tile] // unit * unit
    duplicate = (pick >= 0.095) & (pick < 0.10)
    source = rng.integers(0, m, duplicate.sum())
    ent_driver[duplicate] = ent_driver[source]
    ent_us[duplicate] = ent_us[source]
    entities = pa.table({
        "row_id": pa.array(np.arange(m, dtype=np.int64)),
        "driver_id": pa.array(ent_driver),
        "event_timestamp": ts_array(ent_us),
    })
    pq.write_table(entities, os.path.join(args.out, "entities.parquet"))

    # ---- plain per-driver table for the online comparison: within the day before the last
    # event, so one materialization window [first event, last event] holds both views.
    last_us = int(event_us.max()) if n else end_us
    k = args.drivers
    plain_us = last_us - rng.integers(0, DAY_US, k, dtype=np.int64)
    plain = pa.table({
        "driver_id": pa.array(drivers),
        "event_timestamp": ts_array(plain_us),
        "rating": pa.array(np.round(rng.uniform(3, 5, k), 3)),
        "acceptance_rate": pa.array(rng.random(k)),
        "avg_fare": pa.array(np.round(rng.lognormal(2.5, 0.3, k), 2)),
        "tenure_days": pa.array(rng.integers(1, 3000, k).astype(np.float64)),
    })
    pq.write_table(plain, os.path.join(args.out, "driver_plain.parquet"))

    meta = {
        "seed": SEED, "events": n, "drivers": args.drivers, "days": args.days, "files": len(bounds) - 1,
        "fare_nulls": int(fare_null.sum()), "trip_id_nulls": int(trip_null.sum()),
        "entity_rows": m, "unknown_ids": int(unknown.sum()), "before_data": int(before.sum()),
        "after_data": int(after.sum()), "at_event_time": int(at_event.sum()), "on_tile": int(on_tile.sum()),
        "duplicates": int(duplicate.sum()),
        "first": iso(int(event_us.min()) if n else start_us), "last": iso(last_us), "last_us": last_us,
        "end": iso(end_us),
    }
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
