#!/usr/bin/env python3
"""The web UI's runs table at scale: seeds RUNS runs into one experiment, then times the
searches the table sends (pages of 50; newest first, sorted by a metric, filtered), one
request at a time as one user's browser sends them: page 1 repeatedly, the first 20 pages in
turn by following next_page_token, a deep page (reached with pages of 1,000), and for the
default order every page to the last.

Standard library only; reuses seed.py's keep-alive client. Every answer walked is checked
(page size, order, filter) and the whole walk must return each run exactly once: a fast wrong
page is not a number.

    runs_table.py seed    BASE TOKEN PROJECT RUNS      # prints experiment_id=...
    runs_table.py measure BASE TOKEN PROJECT EXPERIMENT_ID RUNS [REPEATS]
"""

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed import Client, lathe_run, parallel  # noqa: E402

PAGE = 50


def seed(base, token, project, n):
    c = Client(base, token)
    c.call("POST", "/api/v1/projects", {"name": project})
    p = f"/api/v1/projects/{project}"
    exp = c.call("POST", f"{p}/experiments", {"name": "runs-table"})["experiment_id"]

    def one(i):
        lathe_run(c, p, exp, i)

    started = time.monotonic()
    parallel(one, range(n))
    print(f"seeded {n} runs in {time.monotonic() - started:.0f} s", file=sys.stderr)
    print(f"experiment_id={exp}")


def metric(run, key):
    return next((m["value"] for m in run["latest_metrics"] if m["key"] == key), None)


def search(c, project, exp, filter_, order_by, token=""):
    body = {"experiment_ids": [exp], "filter": filter_, "order_by": order_by, "page_size": PAGE}
    if token:
        body["page_token"] = token
    return c.call("POST", f"/api/v1/projects/{project}/runs/search", body)


def walk(c, project, exp, filter_, order_by, n_expected, pages_max=None):
    """Pages through the runs the search selects, as a user clicking Next would (every page, or
    the first `pages_max`), timing each page; checks each page, and that a whole walk returns
    each selected run exactly once."""
    token, times, seen, pages = "", [], set(), 0
    while True:
        started = time.perf_counter()
        answer = search(c, project, exp, filter_, order_by, token)
        times.append((time.perf_counter() - started) * 1000)
        pages += 1
        runs = answer["runs"]
        token = answer["next_page_token"]
        check(f"{filter_!r} {order_by} page {pages}", answer, filter_, order_by, not token)
        for run in runs:
            if run["run_id"] in seen:
                sys.exit(f"runs_table: run {run['run_id']} came back on two pages")
            seen.add(run["run_id"])
        if not token or (pages_max and pages >= pages_max):
            break
    if not token and n_expected is not None and len(seen) != n_expected:
        sys.exit(f"runs_table: paging found {len(seen)} runs, expected {n_expected}")
    return times, len(seen)


def deep_token(c, project, exp, filter_, order_by):
    """The token of the last page of 1,000 (the largest page), reached by following tokens:
    where a user who paged to the end with bigger pages would stand."""
    token, last = "", ""
    while True:
        body = {"experiment_ids": [exp], "filter": filter_, "order_by": order_by, "page_size": 1000}
        if token:
            body["page_token"] = token
        token = c.call("POST", f"/api/v1/projects/{project}/runs/search", body)["next_page_token"]
        if not token:
            return last
        last = token


def timed(c, project, exp, filter_, order_by, token, repeats):
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        search(c, project, exp, filter_, order_by, token)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def check(name, answer, filter_, order_by, last):
    runs = answer["runs"]
    if last:
        if len(runs) > PAGE or answer["next_page_token"]:
            sys.exit(f"runs_table: {name}: the last page has {len(runs)} runs and a next token")
    elif len(runs) != PAGE:
        sys.exit(f"runs_table: {name}: {len(runs)} runs on a page that is not the last")
    if order_by == ["metrics.accuracy DESC"]:
        values = [metric(r, "accuracy") for r in runs]
        if values != sorted(values, reverse=True):
            sys.exit(f"runs_table: {name}: not sorted by accuracy")
    if filter_ == "metrics.accuracy > 0.9" and any(metric(r, "accuracy") <= 0.9 for r in runs):
        sys.exit(f"runs_table: {name}: a run breaks the filter")


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(base, token, project, exp, n, repeats):
    c = Client(base, token)
    print(
        f"| search ({n:,} runs, pages of {PAGE}) | page 1, median ms of {repeats} | "
        "first 20 pages: median · max ms | deep page (past the last 1,000), median ms | "
        "every page to the end: pages · median · p99 · max ms · whole walk s |"
    )
    print("|---|---|---|---|---|")
    cases = [
        ("newest first (the table's default)", "", [], n, True),
        ("sorted by metrics.accuracy DESC", "", ["metrics.accuracy DESC"], n, False),
        ("sorted by metrics.accuracy ASC", "", ["metrics.accuracy ASC"], n, False),
        ("filter metrics.accuracy > 0.9, sorted by it", "metrics.accuracy > 0.9", ["metrics.accuracy DESC"], None, False),
        ("filter params.lr = '0.01'", "params.lr = '0.01'", [], None, False),
    ]
    for name, filter_, order_by, expected, whole in cases:
        first = timed(c, project, exp, filter_, order_by, "", repeats)
        head, _ = walk(c, project, exp, filter_, order_by, expected, pages_max=20)
        deep = deep_token(c, project, exp, filter_, order_by)
        deep_ms = f"{timed(c, project, exp, filter_, order_by, deep, repeats):.1f}" if deep else "—"
        if whole:
            times, found = walk(c, project, exp, filter_, order_by, expected)
            everything = (
                f"{len(times)} · {statistics.median(times):.1f} · {pct(times, 0.99):.1f} · "
                f"{max(times):.1f} · {sum(times) / 1000:.1f}"
            )
        else:
            everything = "—"
        print(
            f"| {name} | {first:.1f} | {statistics.median(head):.1f} · {max(head):.1f} | {deep_ms} | {everything} |",
            flush=True,
        )


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "seed":
        seed(args[0], args[1], args[2], int(args[3]))
    elif cmd == "measure":
        repeats = int(args[5]) if len(args) > 5 else 20
        measure(args[0], args[1], args[2], args[3], int(args[4]), repeats)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
