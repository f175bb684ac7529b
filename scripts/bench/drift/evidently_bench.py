"""The drift benchmark's Evidently side (scripts/bench/drift/run.sh runs it).

Reads the same raw f64 files, builds the two pandas DataFrames (not timed), then times
`Report([DataDriftPreset()]).run(current_data=..., reference_data=...)` (Evidently 0.7's
API; DataDriftPreset with its default stattests: normalised Wasserstein for these columns).
Prints the time, maxrss and a last line `RESULT {json}`; with --lathe-stats it also prints
the largest relative difference between Evidently's per-column values and Lathe's default
statistic.
"""

import argparse
import json
import resource
import time

import numpy as np
import pandas as pd

import evidently
from evidently import Report
from evidently.presets import DataDriftPreset


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--lathe-stats")
    args = parser.parse_args()

    start = time.perf_counter()
    shape = (args.columns, args.rows)
    names = [f"c{i}" for i in range(args.columns)]
    reference = pd.DataFrame(dict(zip(names, np.fromfile(f"{args.data}/ref.f64", dtype="<f8").reshape(shape))))
    current = pd.DataFrame(dict(zip(names, np.fromfile(f"{args.data}/cur.f64", dtype="<f8").reshape(shape))))
    loaded_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"evidently {evidently.__version__}, pandas {pd.__version__}; data loaded in "
          f"{time.perf_counter() - start:.2f} s (not timed); maxrss {loaded_rss:.1f} MiB")

    start = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"DataDriftPreset: {seconds:.3f} s  maxrss {peak:.1f} MiB")

    result = {"version": evidently.__version__, "preset_s": round(seconds, 4),
              "loaded_rss_mib": round(loaded_rss, 1), "peak_rss_mib": round(peak, 1)}
    values, methods = {}, set()
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if config.get("type") == "evidently:metric_v2:ValueDrift":
            values[config["column"]] = float(metric["value"])
            methods.add(config.get("method"))
        elif config.get("type") == "evidently:metric_v2:DriftedColumnsCount":
            result["drifted_columns"] = metric["value"]["count"]
    result["methods"] = sorted(m for m in methods if m)
    print(f"methods: {result['methods']}; drifted columns: {result.get('drifted_columns')}")
    if args.lathe_stats and values:
        worst = (-1.0, None, None, None)
        with open(args.lathe_stats) as f:
            header = f.readline().rstrip("\n").split("\t")
            for line in f:
                row = dict(zip(header, line.rstrip("\n").split("\t")))
                a, b = float(row["default"]), values.get(f"c{row['column']}")
                if b is None:
                    continue
                diff = 0.0 if a == b else abs(a - b) / max(abs(a), abs(b))
                if diff > worst[0]:
                    worst = (diff, row["column"], a, b)
        print(f"agreement wasserstein vs Evidently: max relative difference {worst[0]:.3e} "
              f"(column {worst[1]}: Lathe {worst[2]!r}, Evidently {worst[3]!r})")
        result["max_rel_diff_wasserstein"] = worst[0]
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
