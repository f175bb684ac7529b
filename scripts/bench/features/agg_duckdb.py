#!/usr/bin/env python3
"""Point-in-time window aggregations with plain DuckDB: what a user would write instead of
an aggregated feature view.

    agg_duckdb.py TRIPS_DIR ENTITIES.parquet OUT.parquet [--warmup 1] [--repeats 5]

Computes, for every entity row (row_id, driver_id, event_timestamp = T), the benchmark's four
aggregations (AGGREGATIONS below) with Lathe's semantics: a window of w seconds has tiles of h
(the largest of 1 d, 1 h, 5 m, 1 m, 1 s that is <= w/24 and divides w), and holds the key's
events with tile_start(T) - w + h <= t <= T, tile_start(T) = floor(T / h) * h. count counts
non-null values (0 when none); sum, mean, min, max and stddev (population) are over non-null
values as float64, NULL when there are none.

The query: one LEFT range join of the entity rows to the events on driver_id and the widest
window's bounds, grouped back per row_id (so duplicate entity rows stay separate), the
narrower windows taken with FILTER clauses; output in entity-frame order. Both sides also
carry a time bucket of the widest window's length, joined for equality: a window touches at
most two buckets, so the hash join pairs each event with the rows of its driver near it in
time instead of all of them, and the range predicates then drop the few extra pairs. The
bucket changes no result. Tried on 10M events x 100k rows, DuckDB 2.0.1, 2 shared cores with
other builds running (seconds per run; the first three interleaved, 4 rounds):
  - this query (bucket of 7 d): 3.3-3.6 s; 1.5-1.8 s with the machine quiet; buckets of 1 d,
    2 d and 3.5 d were the same or slower;
  - the same range join without the bucket: 5.2-5.9 s;
  - window functions over the union of events and entity rows (RANGE frames with per-row
    offsets, which DuckDB allows): 6.6-6.8 s, and about 4x the memory;
  - one join per window, joined back on row_id: 6.5-7.4 s.

Runs in one process and one connection WARMUP + REPEATS times; each run reads the Parquet
files and writes OUT (COPY ... TO); with REPEATS 0 it runs once, untimed, to compute a
reference (aggregations.sh does so for the online check). Prints one JSON line: the seconds of every timed run, the
warm-up, the row count, DuckDB's threads and version, and the process's peak RSS (MiB, from
getrusage: the Python interpreter plus DuckDB).
"""

import argparse
import json
import resource
import time

import duckdb

# (column, function, window in seconds): the benchmark's view driver_trips.
AGGREGATIONS = [("fare", "sum", 3600), ("trip_id", "count", 86400), ("fare", "mean", 7 * 86400),
                ("fare", "max", 7 * 86400)]
SQL_FUNCTION = {"sum": "sum", "count": "count", "mean": "avg", "min": "min", "max": "max",
                "stddev": "stddev_pop"}
US = 1_000_000


def tile_seconds(window):
    """Lathe's tile size for a window: the largest candidate <= window/24 that divides it."""
    for tile in (86400, 3600, 300, 60, 1):
        if tile * 24 <= window and window % tile == 0:
            return tile
    return 1


def window_label(window):
    for unit, suffix in ((86400, "d"), (3600, "h"), (60, "m")):
        if window % unit == 0:
            return f"{window // unit}{suffix}"
    return f"{window}s"


def output_name(column, function, window):
    return f"{column}_{function}_{window_label(window)}"


def query(trips, entities, out, aggregations=AGGREGATIONS):
    windows = sorted({w for _, _, w in aggregations})
    bucket = max(windows) * US
    lows = []
    for w in windows:
        h = tile_seconds(w) * US
        # floor(T / h) * h for any sign of T, whatever the sign convention of %.
        lows.append(f"t - ((t % {h}) + {h}) % {h} - {w * US} + {h} AS lo_{w}")
    selects = []
    for column, function, w in aggregations:
        agg = f"{SQL_FUNCTION[function]}(ev.{column}) FILTER (WHERE ev.t >= r.lo_{w})"
        name = output_name(column, function, w)
        selects.append((f"{agg} AS {name}", f"coalesce(j.{name}, 0) AS {name}" if function == "count"
                        else f"j.{name}"))
    lowest = "least(" + ", ".join(f"lo_{w}" for w in windows) + ")" if len(windows) > 1 else f"lo_{windows[0]}"
    columns = sorted({c for c, _, _ in aggregations})
    return f"""
COPY (
  WITH e AS (
    SELECT row_id, driver_id, event_timestamp, epoch_us(event_timestamp) AS t
    FROM read_parquet('{entities}')
  ), r AS (
    SELECT row_id, driver_id, t, {", ".join(lows)} FROM e
  ), rb AS (
    SELECT *, unnest(range({lowest} // {bucket}, t // {bucket} + 1)) AS bucket FROM r
  ), ev AS (
    SELECT driver_id, epoch_us(event_timestamp) AS t, epoch_us(event_timestamp) // {bucket} AS bucket,
      {", ".join(columns)}
    FROM read_parquet('{trips}/*.parquet')
  ), j AS (
    SELECT r.row_id, {", ".join(s for s, _ in selects)}
    FROM rb AS r JOIN ev
      ON ev.driver_id = r.driver_id AND ev.bucket = r.bucket AND ev.t >= {lowest.replace("lo_", "r.lo_")} AND ev.t <= r.t
    GROUP BY r.row_id
  )
  SELECT e.row_id, e.driver_id, e.event_timestamp, {", ".join(o for _, o in selects)}
  FROM e LEFT JOIN j USING (row_id)
  ORDER BY e.row_id
) TO '{out}' (FORMAT parquet)
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trips")
    ap.add_argument("entities")
    ap.add_argument("out")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    sql = query(args.trips.rstrip("/"), args.entities, args.out)
    warm, runs = [], []
    for i in range(max(1, args.warmup + args.repeats)):
        t0 = time.perf_counter()
        con.execute(sql)
        seconds = time.perf_counter() - t0
        (warm if i < args.warmup or args.repeats == 0 else runs).append(seconds)
    rows = con.execute(f"SELECT count(*) FROM read_parquet('{args.out}')").fetchone()[0]
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": runs, "warmup": warm, "rows": rows, "threads": threads,
                      "version": duckdb.__version__, "peak_rss_mib": round(peak_mib, 1)}))


if __name__ == "__main__":
    main()
