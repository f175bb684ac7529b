#!/usr/bin/env python3
"""Seeds the data the registry benchmark reads, over plain HTTP on loopback.

Standard library only. Requests go out from 8 threads, each with its own keep-alive
connection. Any answer that is not 2xx stops the seeding with the status and body: a
benchmark over half-seeded data is not a number.

    seed.py lathe-runs     BASE TOKEN PROJECT N RUNS_FILE      # project, experiment, N runs
    seed.py lathe-versions BASE TOKEN PROJECT MODEL FROM TO RUNS_FILE
    seed.py mlflow-runs    BASE N RUNS_FILE                    # experiment, N runs
    seed.py mlflow-versions BASE MODEL FROM TO
"""

import http.client
import json
import random
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

THREADS = 8
_local = threading.local()


class Client:
    def __init__(self, base, token=None):
        url = urllib.parse.urlsplit(base)
        self.host, self.port = url.hostname, url.port
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = "Bearer " + token

    def _conn(self):
        conn = getattr(_local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            _local.conn = conn
        return conn

    def call(self, method, path, body=None, raw=None, expect_json=True):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = dict(self.headers)
        if raw is not None:
            headers["Content-Type"] = "application/octet-stream"
        for attempt in range(2):
            conn = self._conn()
            try:
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                payload = resp.read()
                break
            except (http.client.HTTPException, ConnectionError):
                # A keep-alive connection the server closed: reconnect once.
                conn.close()
                _local.conn = None
                if attempt:
                    raise
        if not 200 <= resp.status < 300:
            sys.exit(f"seed: {method} {path} -> {resp.status}: {payload[:500]!r}")
        if expect_json and payload:
            return json.loads(payload)
        return payload


def parallel(fn, items):
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(fn, items))


def lathe_run(c, p, exp, i):
    """Run i of experiment exp under the project path p: accuracy and loss drawn from a
    generator seeded with i, and lr one of three values. Returns the run's id."""
    rng = random.Random(i)
    run = c.call("POST", f"{p}/runs", {"experiment_id": exp, "name": f"run-{i}"})["run_id"]
    now = int(time.time() * 1000)
    c.call(
        "POST",
        f"{p}/runs/{run}/log-batch",
        {
            "metrics": [
                {"key": "accuracy", "value": rng.random(), "step": 0, "timestamp_ms": now},
                {"key": "loss", "value": rng.random(), "step": 0, "timestamp_ms": now},
            ],
            "params": [{"key": "lr", "value": str(rng.choice([0.1, 0.01, 0.001]))}],
            "tags": [],
        },
    )
    return run


def lathe_runs(base, token, project, n, runs_file):
    c = Client(base, token)
    c.call("POST", "/api/v1/projects", {"name": project})
    p = f"/api/v1/projects/{project}"
    exp = c.call("POST", f"{p}/experiments", {"name": "registry-bench"})["experiment_id"]
    model_bytes = bytes(random.getrandbits(8) for _ in range(4096))

    def one(i):
        run = lathe_run(c, p, exp, i)
        c.call("PUT", f"{p}/runs/{run}/artifacts/model/model.bin", raw=model_bytes)
        return run

    runs = parallel(one, range(n))
    with open(runs_file, "w") as f:
        f.write("\n".join(runs) + "\n")
    print(f"experiment_id={exp}")


def lathe_versions(base, token, project, model, first, last, runs_file):
    c = Client(base, token)
    p = f"/api/v1/projects/{project}"
    runs = [line for line in open(runs_file).read().split() if line]
    if first == 1:
        c.call("POST", f"{p}/models", {"name": model})

    def one(i):
        body = {"run_id": runs[(i - 1) % len(runs)], "artifact_path": "model"}
        return c.call("POST", f"{p}/models/{model}/versions", body)["version"]

    got = sorted(parallel(one, range(first, last + 1)))
    if got != list(range(first, last + 1)):
        sys.exit(f"seed: versions {first}..{last} came back as {got[:5]}...{got[-5:]}")


def lathe_models(base, token, project, n, runs_file):
    """n more models (list-model-1..n), one version each, for the list-models page."""
    c = Client(base, token)
    p = f"/api/v1/projects/{project}"
    runs = [line for line in open(runs_file).read().split() if line]

    def one(i):
        name = f"list-model-{i}"
        c.call("POST", f"{p}/models", {"name": name})
        c.call("POST", f"{p}/models/{name}/versions", {"run_id": runs[i % len(runs)], "artifact_path": "model"})

    parallel(one, range(1, n + 1))


def mlflow_runs(base, n, runs_file):
    c = Client(base)
    a = "/api/2.0/mlflow"
    exp = c.call("POST", f"{a}/experiments/create", {"name": "registry-bench"})["experiment_id"]

    def one(i):
        rng = random.Random(i)
        now = int(time.time() * 1000)
        run = c.call(
            "POST", f"{a}/runs/create", {"experiment_id": exp, "run_name": f"run-{i}", "start_time": now}
        )["run"]["info"]["run_id"]
        c.call(
            "POST",
            f"{a}/runs/log-batch",
            {
                "run_id": run,
                "metrics": [
                    {"key": "accuracy", "value": rng.random(), "step": 0, "timestamp": now},
                    {"key": "loss", "value": rng.random(), "step": 0, "timestamp": now},
                ],
                "params": [{"key": "lr", "value": str(rng.choice([0.1, 0.01, 0.001]))}],
            },
        )
        return run

    runs = parallel(one, range(n))
    with open(runs_file, "w") as f:
        f.write("\n".join(runs) + "\n")
    print(f"experiment_id={exp}")


def mlflow_versions(base, model, first, last):
    c = Client(base)
    a = "/api/2.0/mlflow"
    if first == 1:
        c.call("POST", f"{a}/registered-models/create", {"name": model})

    def one(i):
        body = {"name": model, "source": "s3://bench/m"}
        return int(c.call("POST", f"{a}/model-versions/create", body)["model_version"]["version"])

    got = sorted(parallel(one, range(first, last + 1)))
    if got != list(range(first, last + 1)):
        sys.exit(f"seed: versions {first}..{last} came back as {got[:5]}...{got[-5:]}")


def mlflow_models(base, n):
    """The same as lathe_models, through MLflow's API."""
    c = Client(base)
    a = "/api/2.0/mlflow"

    def one(i):
        name = f"list-model-{i}"
        c.call("POST", f"{a}/registered-models/create", {"name": name})
        c.call("POST", f"{a}/model-versions/create", {"name": name, "source": "s3://bench/m"})

    parallel(one, range(1, n + 1))


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "lathe-runs":
        lathe_runs(args[0], args[1], args[2], int(args[3]), args[4])
    elif cmd == "lathe-versions":
        lathe_versions(args[0], args[1], args[2], args[3], int(args[4]), int(args[5]), args[6])
    elif cmd == "lathe-models":
        lathe_models(args[0], args[1], args[2], int(args[3]), args[4])
    elif cmd == "mlflow-models":
        mlflow_models(args[0], int(args[1]))
    elif cmd == "mlflow-runs":
        mlflow_runs(args[0], int(args[1]), args[2])
    elif cmd == "mlflow-versions":
        mlflow_versions(args[0], args[1], int(args[2]), int(args[3]))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv)
