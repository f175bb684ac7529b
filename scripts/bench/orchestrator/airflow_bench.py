"""Helper of airflow.sh: talks to Airflow 3's public REST API (/api/v2) over one kept-alive
HTTP connection. Runs with the Airflow venv's Python (it uses httpx, an Airflow dependency).

    airflow_bench.py ready   BASE USER PASSWORD TIMEOUT DAG...
        waits until the api-server answers and every DAG has been parsed into the database,
        then unpauses them.
    airflow_bench.py run     BASE USER PASSWORD DAG TASKS POLL TIMEOUT
        triggers one run of DAG, polls its state every POLL seconds until it is terminal and
        prints one tab-separated line:
            polled_s  recorded_s  state  run_id  tasks_succeeded  queued_to_start_s
        polled_s:   from just before the trigger call to the first poll that saw the terminal
                    state (this is the benchmark's figure);
        recorded_s: from the same instant to the run's end_date as Airflow recorded it, i.e. the
                    figure without the polling granularity (same machine, same clock);
        tasks_succeeded: task instances of the run in state success (checked after the clock
                    stopped), to be compared with TASKS.
"""

from __future__ import annotations

import datetime
import sys
import time

import httpx


def client(base: str, user: str, password: str, timeout: float) -> httpx.Client:
    deadline = time.monotonic() + timeout
    c = httpx.Client(base_url=base, timeout=30.0)
    while True:
        try:
            r = c.post("/auth/token", json={"username": user, "password": password})
            if r.status_code in (200, 201):
                break
            last = f"HTTP {r.status_code}: {r.text[:300]}"
        except httpx.HTTPError as e:
            last = repr(e)
        if time.monotonic() > deadline:
            sys.exit(f"api-server at {base} gave no token within {timeout:.0f} s: {last}")
        time.sleep(0.5)
    c.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    return c


def ready(base: str, user: str, password: str, timeout: str, *dags: str) -> None:
    c = client(base, user, password, float(timeout))
    deadline = time.monotonic() + float(timeout)
    pending = list(dags)
    while pending:
        dag = pending[0]
        r = c.get(f"/api/v2/dags/{dag}")
        if r.status_code == 200:
            pending.pop(0)
            continue
        if time.monotonic() > deadline:
            errs = c.get("/api/v2/importErrors").text[:2000]
            sys.exit(f"DAG {dag} not in Airflow after {timeout} s (HTTP {r.status_code}); import errors: {errs}")
        time.sleep(0.5)
    for dag in dags:
        r = c.patch(f"/api/v2/dags/{dag}", json={"is_paused": False})
        if r.status_code != 200 or r.json().get("is_paused"):
            sys.exit(f"could not unpause {dag}: HTTP {r.status_code} {r.text[:300]}")


def parse_ts(s: str | None) -> float | None:
    if not s:
        return None
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def run(base: str, user: str, password: str, dag: str, tasks: str, poll: str, timeout: str) -> None:
    c = client(base, user, password, 60.0)
    poll_s, timeout_s = float(poll), float(timeout)
    path = f"/api/v2/dags/{dag}/dagRuns"
    # Warm the connection, so the timed window holds no TCP connect.
    c.get(f"/api/v2/dags/{dag}").raise_for_status()

    wall0 = time.time()
    t0 = time.perf_counter()
    r = c.post(path, json={"logical_date": None})
    if r.status_code not in (200, 201):
        sys.exit(f"trigger {dag}: HTTP {r.status_code} {r.text[:500]}")
    run_id = r.json()["dag_run_id"]
    run_path = f"{path}/{run_id}"
    while True:
        r = c.get(run_path)
        r.raise_for_status()
        body = r.json()
        if body["state"] in ("success", "failed"):
            polled = time.perf_counter() - t0
            break
        if time.perf_counter() - t0 > timeout_s:
            print(f"{timeout_s:.3f}\tnan\ttimeout\t{run_id}\t0\tnan")
            return
        time.sleep(poll_s)

    end = parse_ts(body.get("end_date"))
    recorded = f"{end - wall0:.3f}" if end is not None else "nan"
    start, queued = parse_ts(body.get("start_date")), parse_ts(body.get("queued_at"))
    q2s = f"{start - queued:.3f}" if start is not None and queued is not None else "nan"
    r = c.get(f"{run_path}/taskInstances", params={"limit": 1000, "state": "success"})
    r.raise_for_status()
    ok = r.json()["total_entries"]
    print(f"{polled:.3f}\t{recorded}\t{body['state']}\t{run_id}\t{ok}\t{q2s}")
    if ok != int(tasks):
        print(f"{dag} {run_id}: {ok} of {tasks} tasks succeeded", file=sys.stderr)


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    {"ready": ready, "run": run}[cmd](*args)
