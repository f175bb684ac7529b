#!/usr/bin/env python3
"""Correctness checks of the aggregation benchmark (run with the venv's Python).

    agg_check.py historical DATA_DIR REFERENCE.parquet NAME=OUT.parquet... [--sample 2000]
    agg_check.py online-agg ANSWER.json EXPECTED.parquet BODY.json
    agg_check.py online-plain DATA_DIR ANSWER.json BODY.json
    agg_check.py selftest REFERENCE.parquet

historical: first checks REFERENCE (DuckDB's output) against a brute-force computation written
here independently (numpy over each sampled row's driver's events, tile bounds from the
definition) on SAMPLE random entity rows plus every row on a minute boundary and every row at
one of its driver's event times (the window ends). Then compares each other output to
REFERENCE position by position, since Lathe promises one output row per entity row in input
order: the row count, row_id / driver_id / event_timestamp at each position (a reordered
output fails here), and per aggregation NULL positions identical, counts exact, floats within
a relative 1e-9. Prints one JSON line per output, with "ok".

online-agg: checks an online answer (Feast format) of the aggregated view against EXPECTED,
DuckDB's output for the same ids at one time (the moment the sample was read).

online-plain: checks an online answer of the plain view against driver_plain.parquet.

selftest: checks the comparison itself on REFERENCE: it must accept REFERENCE and reject
copies with one defect each (a value off, a NULL turned into a value, two rows swapped, a
row or a column missing). Exits 1 if it does not.
"""

import argparse
import json
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

# (column, function, window in seconds) and output names: the view driver_trips.
AGGREGATIONS = [("fare", "sum", 3600, "fare_sum_1h"), ("trip_id", "count", 86400, "trip_id_count_1d"),
                ("fare", "mean", 7 * 86400, "fare_mean_7d"), ("fare", "max", 7 * 86400, "fare_max_7d")]
PLAIN_FEATURES = ["rating", "acceptance_rate", "avg_fare", "tenure_days"]
RTOL = 1e-9
MINUTE_US = 60_000_000


def tile_us(window_s):
    """The tile of a window, from the definition: the largest of 1 d, 1 h, 5 m, 1 m, 1 s that is
    at most a 24th of the window and divides it; 1 s when none does."""
    fitting = [c for c in (86400, 3600, 300, 60, 1) if c <= window_s / 24 and window_s % c == 0]
    return (max(fitting) if fitting else 1) * 1_000_000


def brute_value(function, values):
    """One aggregation over the window's values (NaN = null, dropped first); None = NULL."""
    values = values[~np.isnan(values)]
    if function == "count":
        return len(values)
    if len(values) == 0:
        return None
    return {"sum": values.sum, "mean": values.mean, "max": values.max, "min": values.min,
            "stddev": values.std}[function]()


def as_float(column):
    return np.asarray(pc.cast(column, pa.float64()).fill_null(float("nan")).to_numpy(zero_copy_only=False))


def as_int(column):
    """A key or time column as int64 (times in microseconds, whatever unit they were stored in)."""
    if pa.types.is_timestamp(column.type):
        column = pc.cast(column, pa.timestamp("us", tz=column.type.tz))
    return np.asarray(pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False))


def same(a, b):
    """Elementwise: both null (NaN), or equal within RTOL."""
    both_null = np.isnan(a) & np.isnan(b)
    close = np.abs(a - b) <= RTOL * np.maximum(np.abs(a), np.abs(b))
    return both_null | (~np.isnan(a) & ~np.isnan(b) & close)


def brute_force(data_dir, reference, sample_rows):
    trips = ds.dataset(os.path.join(data_dir, "trips"), format="parquet").to_table()
    e_driver = trips.column("driver_id").to_numpy()
    e_t = trips.column("event_timestamp").cast("int64").to_numpy()
    e_vals = {c: as_float(trips.column(c)) for c in {a[0] for a in AGGREGATIONS}}
    order = np.argsort(e_driver, kind="stable")
    sorted_driver = e_driver[order]
    ent = pq.read_table(os.path.join(data_dir, "entities.parquet"))
    t = ent.column("event_timestamp").cast("int64").to_numpy()
    drivers = ent.column("driver_id").to_numpy()
    rng = np.random.default_rng(7)
    picks = set(rng.choice(len(ent), min(sample_rows, len(ent)), replace=False).tolist())
    on_minute = np.nonzero(t % MINUTE_US == 0)[0]
    picks |= set(on_minute.tolist())
    # Rows exactly at an event time of their driver: the inclusive upper end.
    span = int(e_t.max() - e_t.min() + 1) if len(e_t) else 1
    at_event = np.array([], dtype=np.int64)
    if len(e_t) and int(e_driver.max()) * span < 2**62:
        known = (drivers <= e_driver.max()) & (drivers >= 0) & (t >= e_t.min()) & (t <= e_t.max())
        key = lambda d, ts: d.astype(np.int64) * span + (ts - e_t.min())  # noqa: E731
        at_event = np.nonzero(known & np.isin(key(drivers, t), key(e_driver, e_t)))[0]
        picks |= set(at_event.tolist())
    if len(reference) != len(ent):
        return {"error": f"reference has {len(reference)} rows, the entity frame {len(ent)}"}
    ref = {name: as_float(reference.column(name)) for *_, name in AGGREGATIONS}
    bad = []
    for i in sorted(picks):
        lo_i, hi_i = np.searchsorted(sorted_driver, [drivers[i], drivers[i] + 1])
        rows = order[lo_i:hi_i]
        for column, function, window_s, name in AGGREGATIONS:
            h = tile_us(window_s)
            low = (int(t[i]) // h) * h - window_s * 1_000_000 + h
            inside = rows[(e_t[rows] >= low) & (e_t[rows] <= t[i])]
            want = brute_value(function, e_vals[column][inside])
            want = float("nan") if want is None else float(want)
            if not same(np.array([ref[name][i]]), np.array([want]))[0]:
                bad.append({"row": int(i), "column": name, "got": None if np.isnan(ref[name][i]) else ref[name][i],
                            "want": None if np.isnan(want) else want})
    return {"checked": len(picks), "on_minute": int(len(on_minute)), "at_event_time": int(len(at_event)),
            "mismatches": len(bad), "examples": bad[:5]}


def compare(reference, other):
    out = {"rows": other.num_rows, "expected_rows": reference.num_rows}
    problems = []
    if other.num_rows != reference.num_rows:
        problems.append(f"{other.num_rows} rows, expected {reference.num_rows}")
    n = min(other.num_rows, reference.num_rows)
    ref, oth = reference.slice(0, n), other.slice(0, n)
    for name in ("row_id", "driver_id", "event_timestamp"):
        if name not in oth.column_names:
            if name != "row_id":
                problems.append(f"no column {name}")
            continue
        a, b = as_int(ref.column(name)), as_int(oth.column(name))
        moved = int((a != b).sum())
        out[f"{name}_misplaced"] = moved
        if moved:
            problems.append(f"{moved} rows with another {name} than the entity frame's at that position")
    mismatched = np.zeros(n, dtype=bool)
    for _, function, _, name in AGGREGATIONS:
        if name not in oth.column_names:
            problems.append(f"no column {name} (columns: {', '.join(oth.column_names)})")
            continue
        a, b = as_float(ref.column(name)), as_float(oth.column(name))
        nulls = int((np.isnan(a) != np.isnan(b)).sum())
        if function == "count":
            differ = ~((a == b) | (np.isnan(a) & np.isnan(b)))
        else:
            differ = ~same(a, b)
        out[f"{name}_null_mismatches"] = nulls
        out[f"{name}_mismatches"] = int(differ.sum())
        mismatched |= differ
    out["mismatched_rows"] = int(mismatched.sum())
    if mismatched.any():
        first = np.nonzero(mismatched)[0][:3]
        out["examples"] = [{name: (ref.column(name)[int(i)].as_py(), oth.column(name)[int(i)].as_py())
                            for *_, name in AGGREGATIONS if name in oth.column_names} | {"position": int(i)}
                           for i in first]
        problems.append(f"rows with a differing aggregation: {int(mismatched.sum())}")
    out["problems"] = problems
    out["ok"] = not problems
    return out


def historical(args):
    reference = pq.read_table(args.reference)
    bf = brute_force(args.data, reference, args.sample)
    print(json.dumps({"name": "reference", "rows": reference.num_rows, "brute_force": bf,
                      "empty_7d_rows": int(reference.column("fare_max_7d").null_count),
                      "ok": "error" not in bf and bf["mismatches"] == 0}, default=float))
    for item in args.outputs:
        name, path = item.split("=", 1)
        if not os.path.exists(path):
            print(json.dumps({"name": name, "ok": False, "problems": [f"{path} does not exist"]}))
            continue
        print(json.dumps({"name": name, **compare(reference, pq.read_table(path))}, default=str))


def corruptions(reference):
    """Copies of REFERENCE each with one defect the comparison must report."""
    n = reference.num_rows
    i = next((k for k in range(n) if reference.column("fare_sum_1h")[k].is_valid), 0)
    j = next((k for k in range(n) if not reference.column("fare_max_7d")[k].is_valid), n - 1)

    def replaced(name, index, value):
        values = reference.column(name).to_pylist()
        values[index] = value(values[index])
        column = pa.array(values, type=reference.schema.field(name).type)
        return reference.set_column(reference.schema.get_field_index(name), name, column)

    swap = list(range(n))
    swap[0], swap[1] = swap[1], swap[0]
    return {
        "sum off by a relative 1e-8": replaced("fare_sum_1h", i, lambda v: v * (1 + 1e-8)),
        "count off by one": replaced("trip_id_count_1d", i, lambda v: v + 1),
        "NULL max given as 0": replaced("fare_max_7d", j, lambda v: 0.0),
        "mean given as NULL": replaced("fare_mean_7d", i, lambda v: None),
        "two rows swapped": reference.take(swap),
        "last row missing": reference.slice(0, n - 1),
        "a column missing": reference.drop_columns(["fare_mean_7d"]),
        "count column renamed": reference.rename_columns(
            [c if c != "trip_id_count_1d" else "driver_trips__trip_id_count_1d" for c in reference.column_names]),
    }


def selftest(args):
    """The comparison accepts REFERENCE itself (a float cast and a relative 1e-12 wobble too)
    and rejects every corrupted copy."""
    reference = pq.read_table(args.reference)
    wobble = reference.set_column(
        reference.schema.get_field_index("fare_mean_7d"), "fare_mean_7d",
        pc.multiply(reference.column("fare_mean_7d"), 1 + 1e-12))
    accepted = {"itself": compare(reference, reference)["ok"], "within 1e-12": compare(reference, wobble)["ok"]}
    rejected = {name: not compare(reference, table)["ok"] for name, table in corruptions(reference).items()}
    failures = [k for k, v in accepted.items() if not v] + [k for k, v in rejected.items() if not v]
    print(json.dumps({"accepted": accepted, "rejected": rejected, "ok": not failures,
                      "failures": failures}))
    return 0 if not failures else 1


def answer_columns(answer):
    """Feature name (without any `view:` or `view__` prefix) -> its {values, statuses}."""
    return {short_name(n): r for n, r in zip(answer["metadata"]["feature_names"], answer["results"])}


def short_name(reference):
    return reference.split(":", 1)[-1].split("__", 1)[-1]


def check_answer(columns, wanted, ids, names, exact_int=()):
    """wanted: name -> list of expected values (None = null) in the order of ids."""
    out = {"entities": len(ids), "features": 0, "value_mismatches": 0, "examples": []}
    for name in names:
        column = columns.get(name)
        if column is None:
            out["value_mismatches"] += len(ids)
            out["examples"].append(f"no column {name} (got {', '.join(columns)})")
            continue
        out["features"] += 1
        for k, entity in enumerate(ids):
            got, want = column["values"][k], wanted[name][k]
            if want is None or got is None:
                ok = got is None and want is None
            elif name in exact_int:
                ok = int(got) == int(want)
            else:
                ok = abs(float(got) - float(want)) <= RTOL * max(abs(float(got)), abs(float(want)))
            if not ok:
                out["value_mismatches"] += 1
                if len(out["examples"]) < 5:
                    out["examples"].append({"id": entity, "feature": name, "got": got, "want": want})
    out["ok"] = out["value_mismatches"] == 0 and out["features"] == len(names)
    return out


def online_agg(args):
    with open(args.answer) as f:
        answer = json.load(f)
    with open(args.body) as f:
        ids = json.load(f)["entities"]["driver_id"]
    expected = pq.read_table(args.expected)
    by_id = {d: i for i, d in enumerate(expected.column("driver_id").to_pylist())}
    names = [name for *_, name in AGGREGATIONS]
    wanted = {n: [expected.column(n)[by_id[d]].as_py() if d in by_id else None for d in ids] for n in names}
    counts = [name for _, function, _, name in AGGREGATIONS if function == "count"]
    print(json.dumps(check_answer(answer_columns(answer), wanted, ids, names, exact_int=counts)))


def online_plain(args):
    with open(args.answer) as f:
        answer = json.load(f)
    with open(args.body) as f:
        ids = json.load(f)["entities"]["driver_id"]
    source = pq.read_table(os.path.join(args.data, "driver_plain.parquet"))
    by_id = {d: i for i, d in enumerate(source.column("driver_id").to_pylist())}
    wanted = {n: [source.column(n)[by_id[d]].as_py() if d in by_id else None for d in ids] for n in PLAIN_FEATURES}
    print(json.dumps(check_answer(answer_columns(answer), wanted, ids, PLAIN_FEATURES)))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command", required=True)
    h = sub.add_parser("historical")
    h.add_argument("data")
    h.add_argument("reference")
    h.add_argument("outputs", nargs="*")
    h.add_argument("--sample", type=int, default=2000)
    a = sub.add_parser("online-agg")
    a.add_argument("answer")
    a.add_argument("expected")
    a.add_argument("body")
    p = sub.add_parser("online-plain")
    p.add_argument("data")
    p.add_argument("answer")
    p.add_argument("body")
    t = sub.add_parser("selftest")
    t.add_argument("reference")
    args = ap.parse_args()
    commands = {"historical": historical, "online-agg": online_agg, "online-plain": online_plain,
                "selftest": selftest}
    return commands[args.command](args) or 0


if __name__ == "__main__":
    sys.exit(main())
