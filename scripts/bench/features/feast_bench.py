#!/usr/bin/env python3
"""The Feast side of the feature-store benchmark (run with the venv's Python).

    feast_bench.py setup REPO DATA_DIR --redis-db N [--ttl-hours 24]
    feast_bench.py historical REPO ENTITIES.parquet OUT.parquet [--warmup 1] [--repeats 5]
    feast_bench.py materialize REPO --start RFC3339 --end RFC3339

setup: writes a Feast repository in REPO (feature_store.yaml: local provider, file (dask)
offline store, Redis online store on 127.0.0.1:6379 db N; feature views `driver_stats` and
`driver_stats_mat` on DATA_DIR's Parquet files, with the same ttl as Lathe's) and applies it.

historical: loads the entity frame into pandas first (not timed), then times
`store.get_historical_features(entity_df, features).to_df()` (the retrieval, ending in a
pandas DataFrame), WARMUP + REPEATS times; writes the last result to OUT as Parquet (not
timed). Prints one JSON line.

materialize: times `store.materialize(start, end, ["driver_stats_mat"])`. Prints one JSON line.
"""

import argparse
import datetime as dt
import json
import os
import sys
import time

FEATURES = ["driver_stats:conv_rate", "driver_stats:acc_rate", "driver_stats:avg_daily_trips"]

STORE_YAML = """\
project: bench
registry: {repo}/registry.db
provider: local
online_store:
  type: redis
  connection_string: "127.0.0.1:6379,db={db}"
offline_store:
  type: file
entity_key_serialization_version: 3
"""

DEFINITIONS = '''\
from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Float32, Int64

driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
schema = [
    Field(name="conv_rate", dtype=Float32),
    Field(name="acc_rate", dtype=Float32),
    Field(name="avg_daily_trips", dtype=Int64),
]
driver_stats = FeatureView(
    name="driver_stats",
    entities=[driver],
    ttl=timedelta(hours={ttl}),
    schema=schema,
    online=True,
    source=FileSource(
        name="driver_stats_source",
        path="{data}/driver_stats.parquet",
        timestamp_field="event_timestamp",
        created_timestamp_column="created",
    ),
)
driver_stats_mat = FeatureView(
    name="driver_stats_mat",
    entities=[driver],
    ttl=timedelta(hours={ttl}),
    schema=schema,
    online=True,
    source=FileSource(
        name="driver_stats_mat_source",
        path="{data}/driver_stats_mat.parquet",
        timestamp_field="event_timestamp",
        created_timestamp_column="created",
    ),
)
'''


def setup(args):
    os.makedirs(args.repo, exist_ok=True)
    with open(os.path.join(args.repo, "feature_store.yaml"), "w") as f:
        f.write(STORE_YAML.format(repo=os.path.abspath(args.repo), db=args.redis_db))
    with open(os.path.join(args.repo, "definitions.py"), "w") as f:
        f.write(DEFINITIONS.format(ttl=args.ttl_hours, data=os.path.abspath(args.data)))
    sys.path.insert(0, args.repo)
    import definitions  # noqa: E402  (the file just written)
    from feast import FeatureStore

    store = FeatureStore(repo_path=args.repo)
    store.apply([definitions.driver, definitions.driver_stats, definitions.driver_stats_mat])
    print(json.dumps({"applied": [fv.name for fv in store.list_feature_views()]}))


def historical(args):
    import pandas as pd
    import pyarrow.parquet as pq
    from feast import FeatureStore

    store = FeatureStore(repo_path=args.repo)
    entity_df = pq.read_table(args.entities).to_pandas()
    warm, runs, df = [], [], None
    for i in range(args.warmup + args.repeats):
        t0 = time.perf_counter()
        df = store.get_historical_features(entity_df=entity_df, features=FEATURES).to_df()
        seconds = time.perf_counter() - t0
        (warm if i < args.warmup else runs).append(seconds)
    assert isinstance(df, pd.DataFrame)
    df.to_parquet(args.out, index=False)
    print(json.dumps({"seconds": runs, "warmup": warm, "rows": len(df),
                      "dtypes": {c: str(t) for c, t in df.dtypes.items()}}))


def materialize(args):
    from feast import FeatureStore

    store = FeatureStore(repo_path=args.repo)
    start = dt.datetime.fromisoformat(args.start.replace("Z", "+00:00"))
    end = dt.datetime.fromisoformat(args.end.replace("Z", "+00:00"))
    t0 = time.perf_counter()
    store.materialize(start_date=start, end_date=end, feature_views=["driver_stats_mat"])
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds}))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("setup")
    s.add_argument("repo")
    s.add_argument("data")
    s.add_argument("--redis-db", type=int, required=True)
    s.add_argument("--ttl-hours", type=int, default=24)
    h = sub.add_parser("historical")
    h.add_argument("repo")
    h.add_argument("entities")
    h.add_argument("out")
    h.add_argument("--warmup", type=int, default=1)
    h.add_argument("--repeats", type=int, default=5)
    m = sub.add_parser("materialize")
    m.add_argument("repo")
    m.add_argument("--start", required=True)
    m.add_argument("--end", required=True)
    args = ap.parse_args()
    {"setup": setup, "historical": historical, "materialize": materialize}[args.command](args)


if __name__ == "__main__":
    main()
