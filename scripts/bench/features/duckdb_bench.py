#!/usr/bin/env python3
"""Historical retrieval with plain DuckDB: the engine a user would pick instead of a feature store.

    duckdb_bench.py STATS.parquet ENTITIES.parquet OUT.parquet [--ttl-hours 24] [--warmup 1] [--repeats 5]

Runs, in one process and one connection, WARMUP + REPEATS times, the point-in-time join with
the semantics of Lathe and Feast: for an entity row (driver_id, T), a source row counts if
T - ttl <= event_timestamp <= T; the newest counts, a tie on event time going to the later
`created` (nulls last). DuckDB's ASOF LEFT JOIN picks the newest row with event time <= T;
rows with the same key and event time are first reduced to the one with the latest created
time (so the ASOF pick is the tie-break winner), and a pick older than T - ttl becomes null
(then no row lies in the window). Each run reads both Parquet files and writes the result to
OUT as Parquet (COPY ... TO). Output order is DuckDB's (not the entity frame's); row_id is
carried through. Prints one JSON line: seconds of every measured run, the warm-up, row count.
"""

import argparse
import json
import time

import duckdb

QUERY = """
COPY (
  WITH stats AS (
    SELECT driver_id, event_timestamp AS feature_ts, conv_rate, acc_rate, avg_daily_trips
    FROM read_parquet('{stats}')
    QUALIFY row_number() OVER (
      PARTITION BY driver_id, event_timestamp ORDER BY created DESC NULLS LAST) = 1
  )
  SELECT e.*,
    CASE WHEN s.feature_ts >= e.event_timestamp - INTERVAL {ttl} HOUR THEN s.conv_rate END AS conv_rate,
    CASE WHEN s.feature_ts >= e.event_timestamp - INTERVAL {ttl} HOUR THEN s.acc_rate END AS acc_rate,
    CASE WHEN s.feature_ts >= e.event_timestamp - INTERVAL {ttl} HOUR THEN s.avg_daily_trips END AS avg_daily_trips
  FROM read_parquet('{entities}') e
  ASOF LEFT JOIN stats s
    ON e.driver_id = s.driver_id AND e.event_timestamp >= s.feature_ts
) TO '{out}' (FORMAT parquet)
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("stats")
    ap.add_argument("entities")
    ap.add_argument("out")
    ap.add_argument("--ttl-hours", type=int, default=24)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    sql = QUERY.format(stats=args.stats, entities=args.entities, out=args.out, ttl=args.ttl_hours)
    warm, runs = [], []
    for i in range(args.warmup + args.repeats):
        t0 = time.perf_counter()
        con.execute(sql)
        seconds = time.perf_counter() - t0
        (warm if i < args.warmup else runs).append(seconds)
    rows = con.execute(f"SELECT count(*) FROM read_parquet('{args.out}')").fetchone()[0]
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    print(json.dumps({"seconds": runs, "warmup": warm, "rows": rows, "threads": threads,
                      "version": duckdb.__version__}))


if __name__ == "__main__":
    main()
