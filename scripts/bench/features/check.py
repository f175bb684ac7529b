#!/usr/bin/env python3
"""Correctness checks of the feature-store benchmark (run with the venv's Python).

    check.py historical DATA_DIR REFERENCE.parquet NAME=OUT.parquet... [--ttl-hours 24]
    check.py online-fetch URL BODY.json OUT.json [TOKEN]
    check.py online DATA_DIR ANSWER.json BODY.json

historical: first checks REFERENCE (DuckDB's output) against a brute-force point-in-time
lookup, written here independently, on 2,000 random entity rows plus every row whose time
is on the hour (window ends). Then compares each other output to REFERENCE row by row,
matched on row_id: rows missing or extra, and per feature, values that differ (a null
against a value counts). Prints one JSON line per output.

online-fetch: POSTs BODY (Feast format) to URL and saves the JSON answer.

online: checks an answer against driver_stats_mat.parquet: for every requested id, each
feature's status is PRESENT and its value equals the source row's (float32 compared as
float32). Prints one JSON line.
"""

import argparse
import json
import os
import sys
import urllib.request

import numpy as np
import pyarrow.parquet as pq

FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips"]
HOUR_US = 3_600_000_000


def as_float(table, name):
    """A feature column as float64 with NaN for null (exact for float32 and small ints)."""
    column = table.column(name).cast("float64").fill_null(float("nan"))
    return np.asarray(column.to_numpy(zero_copy_only=False))


def by_row_id(table):
    order = np.argsort(table.column("row_id").to_numpy())
    return table.take(order)


def brute_force(data_dir, reference, ttl_us, sample_rows=2000):
    stats = pq.read_table(os.path.join(data_dir, "driver_stats.parquet"))
    s_driver = stats.column("driver_id").to_numpy()
    s_ts = stats.column("event_timestamp").cast("int64").to_numpy()
    s_created = stats.column("created").cast("int64").to_numpy()
    s_vals = {f: as_float(stats, f) for f in FEATURES}
    order = np.argsort(s_driver, kind="stable")
    starts = np.searchsorted(s_driver[order], np.unique(s_driver))
    groups = dict(zip(np.unique(s_driver).tolist(), np.split(order, starts[1:])))
    ent = by_row_id(pq.read_table(os.path.join(data_dir, "entities.parquet")))
    ref = by_row_id(reference)
    t_us = ent.column("event_timestamp").cast("int64").to_numpy()
    drivers = ent.column("driver_id").to_numpy()
    rng = np.random.default_rng(7)
    picks = set(rng.choice(len(ent), min(sample_rows, len(ent)), replace=False).tolist())
    picks |= set(np.nonzero(t_us % HOUR_US == 0)[0].tolist())
    ref_vals = {f: as_float(ref, f) for f in FEATURES}
    bad = []
    for i in sorted(picks):
        want = {f: float("nan") for f in FEATURES}
        rows = groups.get(int(drivers[i]))
        if rows is not None:
            window = rows[(s_ts[rows] <= t_us[i]) & (s_ts[rows] >= t_us[i] - ttl_us)]
            if len(window):
                # Newest event time wins, then the latest created time.
                best = max(window.tolist(), key=lambda r: (s_ts[r], s_created[r]))
                want = {f: s_vals[f][best] for f in FEATURES}
        for f in FEATURES:
            got = ref_vals[f][i]
            if not (got == want[f] or (np.isnan(got) and np.isnan(want[f]))):
                bad.append(int(i))
                break
    return {"checked": len(picks), "on_hour": int((t_us % HOUR_US == 0).sum()), "mismatches": len(bad),
            "examples": bad[:5]}


def compare(reference, other):
    ref = by_row_id(reference)
    oth = by_row_id(other)
    ref_ids = ref.column("row_id").to_numpy()
    oth_ids = oth.column("row_id").to_numpy()
    missing = np.setdiff1d(ref_ids, oth_ids)
    extra = len(oth_ids) - len(np.intersect1d(ref_ids, oth_ids))
    common, ri, oi = np.intersect1d(ref_ids, oth_ids, return_indices=True)
    out = {"rows": len(oth_ids), "missing_rows": int(len(missing)), "extra_rows": int(extra), "compared": int(len(common))}
    mismatched_rows = np.zeros(len(common), dtype=bool)
    for f in FEATURES:
        a = as_float(ref, f)[ri]
        b = as_float(oth, f)[oi]
        differ = ~((a == b) | (np.isnan(a) & np.isnan(b)))
        out[f"{f}_mismatches"] = int(differ.sum())
        mismatched_rows |= differ
    out["mismatched_rows"] = int(mismatched_rows.sum())
    out["mismatch_examples"] = common[mismatched_rows][:5].tolist()
    if len(missing):
        # Why rows are missing: does the reference have features for them?
        ref_has = ~np.isnan(as_float(ref, FEATURES[0]))
        missing_mask = np.isin(ref_ids, missing)
        ent_drivers = ref.column("driver_id").to_numpy()
        out["missing_with_reference_values"] = int((missing_mask & ref_has).sum())
        out["missing_examples"] = [
            {"row_id": int(r), "driver_id": int(d)}
            for r, d in zip(ref_ids[missing_mask][:3], ent_drivers[missing_mask][:3])
        ]
    return out


def historical(args):
    ttl_us = args.ttl_hours * HOUR_US
    reference = pq.read_table(args.reference)
    print(json.dumps({"name": "reference", "brute_force": brute_force(args.data, reference, ttl_us),
                      "rows": reference.num_rows,
                      "null_feature_rows": int(np.isnan(as_float(reference, FEATURES[0])).sum())}))
    for item in args.outputs:
        name, path = item.split("=", 1)
        if not os.path.exists(path):
            print(json.dumps({"name": name, "error": f"{path} does not exist"}))
            continue
        print(json.dumps({"name": name, **compare(reference, pq.read_table(path))}))


def online_fetch(args):
    with open(args.body, "rb") as f:
        body = f.read()
    request = urllib.request.Request(args.url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    if args.token:
        request.add_header("Authorization", f"Bearer {args.token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.load(response)
    with open(args.out, "w") as f:
        json.dump(answer, f)


def online(args):
    with open(args.answer) as f:
        answer = json.load(f)
    with open(args.body) as f:
        body = json.load(f)
    ids = body["entities"]["driver_id"]
    source = pq.read_table(os.path.join(args.data, "driver_stats_mat.parquet"))
    src_ids = source.column("driver_id").to_numpy()
    wanted = np.isin(src_ids, np.asarray(ids, dtype=np.int64))
    index = {int(src_ids[i]): int(i) for i in np.nonzero(wanted)[0]}
    columns = dict(zip(answer["metadata"]["feature_names"], answer["results"]))
    out = {"entities": len(ids), "features": 0, "not_present": 0, "value_mismatches": 0, "examples": []}
    for name in FEATURES:
        column = columns.get(name)
        if column is None:
            out["examples"].append(f"no column {name}")
            out["value_mismatches"] += len(ids)
            continue
        out["features"] += 1
        values = source.column(name).to_numpy()
        for k, entity in enumerate(ids):
            if column["statuses"][k] != "PRESENT":
                out["not_present"] += 1
            got = column["values"][k]
            if int(entity) not in index:
                same = got is None
                want = None
            else:
                want = values[index[int(entity)]].item()
                same = got is not None and (np.float32(got) == np.float32(want) if name != "avg_daily_trips"
                                            else int(got) == int(want))
            if not same:
                out["value_mismatches"] += 1
                if len(out["examples"]) < 5:
                    out["examples"].append({"id": entity, "feature": name, "got": got, "want": want})
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command", required=True)
    h = sub.add_parser("historical")
    h.add_argument("data")
    h.add_argument("reference")
    h.add_argument("outputs", nargs="*")
    h.add_argument("--ttl-hours", type=int, default=24)
    f = sub.add_parser("online-fetch")
    f.add_argument("url")
    f.add_argument("body")
    f.add_argument("out")
    f.add_argument("token", nargs="?")
    o = sub.add_parser("online")
    o.add_argument("data")
    o.add_argument("answer")
    o.add_argument("body")
    args = ap.parse_args()
    {"historical": historical, "online-fetch": online_fetch, "online": online}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
