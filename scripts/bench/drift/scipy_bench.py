"""The drift benchmark's numpy/scipy side (scripts/bench/drift/run.sh runs it).

Reads the raw little-endian f64 files the Lathe example wrote (column after column), then
times, one column after the other on one thread (numpy/scipy do not spread these over cores):
  default: scipy.stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001), Evidently's
           normalised Wasserstein, the default for these columns;
  psi:     Evidently's psi: np.histogram_bin_edges(concat, bins="sturges"), np.histogram of
           each side, shares, empty bins smoothed (feel_zeroes), sum((r - c) ln(r / c));
  ks:      scipy.stats.ks_2samp(ref, cur) (method auto: asymptotic at these sizes).
The numpy side does only the arithmetic: no missing-value filtering and no distinct-value
count to pick the method or the binning (the data has no missing values and over 20 distinct
values per column), so it is the least work that gives the same numbers.

Prints per-part times and a last line `RESULT {json}`. With --lathe-stats FILE (the TSV of
drift_bench --stats) it prints the largest relative difference per statistic.
"""

import argparse
import json
import resource
import time

import numpy as np
from scipy import stats


def psi(reference, current):
    edges = np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")
    r = np.histogram(reference, edges)[0] / len(reference)
    c = np.histogram(current, edges)[0] / len(current)
    for shares in (r, c):
        nonzero = shares[shares != 0]
        if len(nonzero):
            smallest = nonzero.min()
            np.place(shares, shares == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001)
    return float(np.sum((r - c) * np.log(r / c)))


def wasserstein(reference, current):
    return float(stats.wasserstein_distance(reference, current) / max(np.std(reference), 0.001))


def ks(reference, current):
    result = stats.ks_2samp(reference, current)
    return float(result.pvalue), float(result.statistic)


def relative(a, b):
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--lathe-stats")
    parser.add_argument("--stats-out")
    args = parser.parse_args()

    start = time.perf_counter()
    shape = (args.columns, args.rows)
    reference = np.fromfile(f"{args.data}/ref.f64", dtype="<f8").reshape(shape)
    current = np.fromfile(f"{args.data}/cur.f64", dtype="<f8").reshape(shape)
    loaded_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"data loaded in {time.perf_counter() - start:.2f} s (not timed); maxrss {loaded_rss:.1f} MiB")

    result = {"rows": args.rows, "columns": args.columns, "loaded_rss_mib": round(loaded_rss, 1)}
    values = {}
    for name, fn in (("default", wasserstein), ("psi", psi), ("ks", ks)):
        start = time.perf_counter()
        values[name] = [fn(reference[i], current[i]) for i in range(args.columns)]
        seconds = time.perf_counter() - start
        result[f"{name}_s"] = round(seconds, 4)
        print(f"{name:>8}: {seconds:8.3f} s")
    result["total_s"] = round(result["default_s"] + result["psi_s"] + result["ks_s"], 4)
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(f"   total: {result['total_s']:8.3f} s  maxrss {result['peak_rss_mib']:.1f} MiB")

    if args.lathe_stats:
        lathe = {}
        with open(args.lathe_stats) as f:
            header = f.readline().rstrip("\n").split("\t")
            for line in f:
                row = dict(zip(header, line.rstrip("\n").split("\t")))
                lathe[int(row["column"])] = row
        worst = {}
        for i in range(args.columns):
            row = lathe[i]
            pairs = {
                "wasserstein": (float(row["default"]), values["default"][i]),
                "psi": (float(row["psi"]), values["psi"][i]),
                "ks_d": (float(row["ks_d"]), values["ks"][i][1]),
                "ks_p": (float(row["ks_p"]), values["ks"][i][0]),
            }
            for key, (a, b) in pairs.items():
                diff = relative(a, b)
                if diff > worst.get(key, (-1.0,))[0]:
                    worst[key] = (diff, i, a, b)
        for key, (diff, i, a, b) in worst.items():
            print(f"agreement {key:>11}: max relative difference {diff:.3e} (column {i}: Lathe {a:.17g}, scipy {b:.17g})")
        result["max_rel_diff"] = {key: w[0] for key, w in worst.items()}
    if args.stats_out:
        with open(args.stats_out, "w") as f:
            json.dump(values, f)
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
