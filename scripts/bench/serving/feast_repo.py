#!/usr/bin/env python3
"""The Feast side of the serving benchmark (run with .tools/bench-serving-feast's Python).

    feast_repo.py REPO FEATURES.parquet --redis-db N --project P --start RFC3339 --end RFC3339

Writes a Feast repository in REPO (local provider, file offline store, Redis online store on
127.0.0.1:6379 db N; one entity `driver` with join key `driver_id` and one feature view
`stats` of f0, f1, f2 as Float32 on FEATURES.parquet), applies it and materializes the window
into Redis. Feast's Redis keys end with the project's name, which is how run.sh finds them to
delete them afterwards. Prints one JSON line.
"""

import argparse
import datetime as dt
import json
import os
import sys
import time

STORE_YAML = """\
project: {project}
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
from feast.types import Float32

driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
stats = FeatureView(
    name="stats",
    entities=[driver],
    ttl=timedelta(days=30),
    schema=[Field(name="f0", dtype=Float32), Field(name="f1", dtype=Float32), Field(name="f2", dtype=Float32)],
    online=True,
    source=FileSource(
        name="stats_source",
        path="{data}",
        timestamp_field="event_timestamp",
        created_timestamp_column="created",
    ),
)
'''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("repo")
    ap.add_argument("data")
    ap.add_argument("--redis-db", type=int, required=True)
    ap.add_argument("--project", required=True)
    ap.add_argument("--start", required=True)
    ap.add_argument("--end", required=True)
    args = ap.parse_args()

    os.makedirs(args.repo, exist_ok=True)
    repo = os.path.abspath(args.repo)
    with open(os.path.join(repo, "feature_store.yaml"), "w") as f:
        f.write(STORE_YAML.format(project=args.project, repo=repo, db=args.redis_db))
    with open(os.path.join(repo, "definitions.py"), "w") as f:
        f.write(DEFINITIONS.format(data=os.path.abspath(args.data)))
    sys.path.insert(0, repo)
    import definitions  # noqa: E402  (the file just written)
    from feast import FeatureStore

    store = FeatureStore(repo_path=repo)
    store.apply([definitions.driver, definitions.stats])
    start = dt.datetime.fromisoformat(args.start.replace("Z", "+00:00"))
    end = dt.datetime.fromisoformat(args.end.replace("Z", "+00:00"))
    t0 = time.perf_counter()
    store.materialize(start_date=start, end_date=end, feature_views=["stats"])
    print(json.dumps({"materialize_seconds": time.perf_counter() - t0}))


if __name__ == "__main__":
    main()
