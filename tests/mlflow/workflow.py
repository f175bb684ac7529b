#!/usr/bin/env python3
"""A data scientist's workflow with the real `mlflow` client against a Lathe gateway.

Reads MLFLOW_TRACKING_URI (the gateway) and MLFLOW_TRACKING_TOKEN (a Lathe JWT) as any
`mlflow` user would. `--stages` picks what runs (comma list, in this order):

  tracking   experiments, a run with params, tags and stepped metrics, log_batch, get_run,
             metric history, search_runs with a filter, order and pages, search_experiments,
             delete_run, and MLflow's error codes
  artifacts  log_artifact (text, binary), log_artifacts (a directory), log_dict, nested
             list_artifacts, download_artifacts byte-identical (sha256)
  models     mlflow.sklearn.log_model (MLflow 3 logged models), three registered versions,
             an alias set and moved, stage transitions, version search with filters and pages,
             models:/name@champion loaded and predicting as the in-memory model, rename, delete

Each check prints one line; the first failed check raises, so the exit status is non-zero.
Lines `RUN_ID=<id>`, `EXPERIMENT_ID=<id>` and `ARTIFACT_RUN_ID=<id>` tell the caller what was
logged, so it can look at the same run through Lathe's own API.

Run by tests/tests/mlflow_client.rs in the venv of scripts/mlflow/install-venv.sh.
"""

import argparse
import hashlib
import os
import sys
import tempfile
import time
import uuid
import warnings
from contextlib import contextmanager
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException

STAGES = ("tracking", "artifacts", "models")

# Stages and get_latest_versions are deprecated but still what many teams use; say it once, here.
warnings.filterwarnings("ignore", message=".*Model registry stages will be removed", category=FutureWarning)
# scikit-learn's own deprecations inside MLflow's autolog metrics are not ours to fix.
warnings.filterwarnings("ignore", category=FutureWarning, module="sklearn")

# One suffix per invocation, so repeated runs against one gateway do not collide on names.
SUFFIX = uuid.uuid4().hex[:8]
EXPERIMENT = f"churn-{SUFFIX}"


# With --keep-going a failed check is recorded and the workflow goes on, so that one run lists
# every mismatch; the exit status is non-zero all the same.
KEEP_GOING = False
FAILURES = []
# Sections left out with --skip (gaps of the server under test), each reported as skipped.
SKIP = set()


def fail(message):
    if not KEEP_GOING:
        raise AssertionError(f"FAILED: {message}")
    FAILURES.append(message)
    print(f"  FAILED: {message}", flush=True)


def check(condition, what, detail=""):
    """Prints `ok: what`, or fails with what was expected and what came back."""
    if condition:
        print(f"  ok: {what}", flush=True)
    else:
        fail(what + (f": {detail}" if detail else ""))


def check_equal(actual, expected, what):
    check(actual == expected, what, f"expected {expected!r}, got {actual!r}")


def expect_error(code, what, call, *args, **kwargs):
    """Runs `call`, which must raise an MlflowException whose error_code is `code`."""
    try:
        call(*args, **kwargs)
    except MlflowException as err:
        check(err.error_code == code, f"{what} -> {code}", f"got {err.error_code}: {err.message}")
        return
    except Exception as err:  # noqa: BLE001 - any other failure is a mismatch too
        fail(f"{what}: {type(err).__name__} instead of MlflowException {code}: {err}")
        return
    fail(f"{what}: no error, expected {code}")


def wanted(name):
    """Whether the section `name` runs (it does unless --skip names it)."""
    if name in SKIP:
        print(f"  skipped: {name}", flush=True)
        return False
    return True


@contextmanager
def section(name):
    """A group of checks that depend on each other: an exception ends the group (and, without
    --keep-going, the workflow)."""
    try:
        yield
    except Exception as err:
        if not KEEP_GOING:
            raise
        last = str(err).strip().splitlines()[-1:] or [""]
        fail(f"{name}: {type(err).__name__}: {last[0]}")


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tracking(client):
    print("stage tracking", flush=True)
    experiment = mlflow.set_experiment(EXPERIMENT)
    check_equal(experiment.name, EXPERIMENT, "set_experiment creates the experiment")
    check(
        experiment.artifact_location.startswith("mlflow-artifacts:/"),
        "the experiment's artifacts go through the proxy",
        experiment.artifact_location,
    )
    check_equal(mlflow.set_experiment(EXPERIMENT).experiment_id, experiment.experiment_id,
                "set_experiment finds it again by name")
    exp_id = experiment.experiment_id

    with mlflow.start_run(run_name="lr-C0.5") as active:
        run_id = active.info.run_id
        mlflow.log_param("C", 0.5)
        mlflow.log_params({"solver": "lbfgs", "max_iter": 200})
        mlflow.set_tag("team", "retention")
        for step, loss in enumerate([0.9, 0.6, 0.4]):
            mlflow.log_metric("loss", loss, step=step)
        mlflow.log_metrics({"acc": 0.7, "f1": 0.65}, step=2)
        now = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[Metric("val_loss", v, now + step, step) for step, v in enumerate([1.0, 0.8, 0.75])],
            params=[Param("penalty", "l2")],
            tags=[RunTag("phase", "tuning")],
        )
    print(f"RUN_ID={run_id}", flush=True)
    print(f"EXPERIMENT_ID={exp_id}", flush=True)

    with section("get_run"):
        run = client.get_run(run_id)
        check_equal(run.info.status, "FINISHED", "end_run finished the run")
        check_equal(run.info.run_name, "lr-C0.5", "the run keeps its name")
        check_equal(run.info.experiment_id, exp_id, "the run is in the experiment")
        check_equal(run.info.lifecycle_stage, "active", "the run is active")
        check(run.info.end_time is not None and run.info.end_time >= run.info.start_time,
              "the run has an end time", f"start {run.info.start_time}, end {run.info.end_time}")
        check(run.info.artifact_uri.startswith("mlflow-artifacts:/"), "the run's artifact URI is the proxy's",
              run.info.artifact_uri)
        check_equal(run.data.params, {"C": "0.5", "solver": "lbfgs", "max_iter": "200", "penalty": "l2"},
                    "params from log_param, log_params and log_batch")
        check_equal(run.data.metrics, {"loss": 0.4, "acc": 0.7, "f1": 0.65, "val_loss": 0.75},
                    "the latest value of each metric")
        check_equal(run.data.tags.get("team"), "retention", "the tag from set_tag")
        check_equal(run.data.tags.get("phase"), "tuning", "the tag from log_batch")
        check_equal(run.data.tags.get("mlflow.runName"), "lr-C0.5", "the client's mlflow.runName tag")

    with section("get_metric_history"):
        history = client.get_metric_history(run_id, "loss")
        check_equal(sorted((m.step, m.value) for m in history), [(0, 0.9), (1, 0.6), (2, 0.4)],
                    "loss history: every step and value")
        history = client.get_metric_history(run_id, "val_loss")
        check_equal(sorted((m.step, m.value) for m in history), [(0, 1.0), (1, 0.8), (2, 0.75)],
                    "val_loss history from log_batch")

    # Three more runs to search among: the filter keeps C = 0.5 with acc above 0.5.
    with section("search_runs"):
        others = {}
        for name, c, acc in [("lr-C0.1", "0.1", 0.95), ("lr-C0.5-b", "0.5", 0.9), ("lr-C0.5-c", "0.5", 0.3)]:
            with mlflow.start_run(run_name=name) as active:
                mlflow.log_params({"C": c, "solver": "lbfgs"})
                mlflow.log_metric("acc", acc, step=0)
                others[name] = active.info.run_id

        query = "params.C = '0.5' and metrics.acc > 0.5"
        matched = client.search_runs([exp_id], filter_string=query, order_by=["metrics.acc DESC"])
        check_equal([r.info.run_id for r in matched], [others["lr-C0.5-b"], run_id],
                    f"search_runs {query!r} ordered by metrics.acc DESC")
        pages, token = [], None
        for _ in range(5):
            page = client.search_runs([exp_id], filter_string=query, order_by=["metrics.acc DESC"],
                                      max_results=1, page_token=token)
            pages.append([r.info.run_id for r in page])
            token = page.token
            if not token:
                break
        check(len(pages[0]) == 1 and pages[0][0] == others["lr-C0.5-b"], "the first page of one run", pages)
        check_equal([r for p in pages for r in p], [others["lr-C0.5-b"], run_id],
                    "paging with max_results=1 and page_token returns each match once")
        frame = mlflow.search_runs(experiment_ids=[exp_id], filter_string="params.C = '0.5'",
                                   order_by=["metrics.acc ASC"])
        check_equal(list(frame["metrics.acc"]), [0.3, 0.7, 0.9], "mlflow.search_runs as a DataFrame, ascending")

    with section("search_experiments"):
        client.create_experiment(f"{EXPERIMENT}-other", tags={"team": "growth"})
        found = client.search_experiments(filter_string=f"name = '{EXPERIMENT}'")
        check_equal([e.experiment_id for e in found], [exp_id], "search_experiments by name")
        found = client.search_experiments(filter_string=f"name LIKE '{EXPERIMENT}%'", order_by=["name ASC"],
                                          max_results=1)
        check(len(found) == 1 and found.token, "search_experiments pages with max_results=1",
              f"{[e.name for e in found]}, token {found.token!r}")
        rest = client.search_experiments(filter_string=f"name LIKE '{EXPERIMENT}%'", order_by=["name ASC"],
                                         max_results=1, page_token=found.token)
        check_equal([found[0].name, rest[0].name], [EXPERIMENT, f"{EXPERIMENT}-other"],
                    "the second page holds the other experiment")
        tagged = client.search_experiments(filter_string=f"tags.team = 'growth' and name LIKE '{EXPERIMENT}%'")
        check_equal([e.name for e in tagged], [f"{EXPERIMENT}-other"], "search_experiments by tag")

    if wanted("delete_experiment_tag"):
        with section("delete_experiment_tag"):
            client.set_experiment_tag(exp_id, "stage", "dev")
            client.delete_experiment_tag(exp_id, "stage")
            check("stage" not in client.get_experiment(exp_id).tags, "delete_experiment_tag",
                  client.get_experiment(exp_id).tags)

    if wanted("delete_run"):
        with section("delete_run"):
            deleted = others["lr-C0.5-c"]
            client.delete_run(deleted)
            check_equal(client.get_run(deleted).info.lifecycle_stage, "deleted", "get_run shows a deleted run")
            active_ids = {r.info.run_id for r in client.search_runs([exp_id])}
            check(deleted not in active_ids and run_id in active_ids, "search_runs leaves deleted runs out",
                  active_ids)
            only_deleted = client.search_runs([exp_id], run_view_type=ViewType.DELETED_ONLY)
            check_equal([r.info.run_id for r in only_deleted], [deleted], "ViewType.DELETED_ONLY finds it")
            expect_error("INVALID_PARAMETER_VALUE", "log_metric to a deleted run", client.log_metric,
                         deleted, "acc", 0.1)
            client.restore_run(deleted)
            check_equal(client.get_run(deleted).info.lifecycle_stage, "active", "restore_run")
            client.log_metric(deleted, "acc", 0.1)

    if wanted("delete_tag"):
        with section("delete_tag"):
            client.set_tag(run_id, "scratch", "yes")
            client.delete_tag(run_id, "scratch")
            check("scratch" not in client.get_run(run_id).data.tags, "delete_tag removes the run's tag")
            expect_error("RESOURCE_DOES_NOT_EXIST", "delete_tag of a tag the run lacks", client.delete_tag,
                         run_id, "scratch")

    with section("nested runs and a failed run"):
        with mlflow.start_run(run_name="sweep") as parent:
            with mlflow.start_run(run_name="trial", nested=True) as child:
                mlflow.log_metric("acc", 0.6)
        children = client.search_runs([exp_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
        check_equal([r.info.run_id for r in children], [child.info.run_id], "a nested run names its parent")
        failed = client.create_run(exp_id, run_name="diverged")
        client.set_terminated(failed.info.run_id, "FAILED")
        check_equal(client.get_run(failed.info.run_id).info.status, "FAILED", "set_terminated FAILED")
        found = client.search_runs([exp_id], "attributes.status = 'FAILED'")
        check_equal([r.info.run_id for r in found], [failed.info.run_id], "search_runs by attributes.status")

    with section("sklearn autolog"):
        from sklearn.datasets import make_classification
        from sklearn.linear_model import LogisticRegression

        x, y = make_classification(n_samples=100, n_features=5, random_state=3)
        # Models and datasets left out: they need logged models and runs/log-inputs.
        mlflow.sklearn.autolog(log_models=False, log_datasets=False, silent=True)
        try:
            with mlflow.start_run(run_name="autolog") as auto:
                LogisticRegression(C=0.25, max_iter=300).fit(x, y)
        finally:
            mlflow.sklearn.autolog(disable=True)
        logged = client.get_run(auto.info.run_id).data
        check_equal(logged.params.get("C"), "0.25", "autolog logs the estimator's params")
        check("training_accuracy_score" in logged.metrics, "autolog logs training metrics", sorted(logged.metrics))

    # A diverging loss: MLflow stores NaN and infinities as metric values.
    if wanted("log_metric NaN and infinity"):
        with section("log_metric NaN and infinity"):
            client.log_metric(run_id, "diverged_loss", float("nan"), step=3)
            client.log_metric(run_id, "diverged_loss", float("inf"), step=4)
            history = sorted(client.get_metric_history(run_id, "diverged_loss"), key=lambda m: m.step)
            check(len(history) == 2 and history[0].value != history[0].value and history[1].value == float("inf"),
                  "NaN and infinity come back", [(m.step, m.value) for m in history])
            check_equal(client.get_run(run_id).data.metrics["diverged_loss"], float("inf"),
                        "the latest value is the infinity of step 4")
            found = client.search_runs([exp_id], "metrics.diverged_loss > 1000")
            check_equal([r.info.run_id for r in found], [run_id], "search_runs compares an infinity")

    expect_error("RESOURCE_DOES_NOT_EXIST", "get_run of an unknown id", client.get_run, uuid.uuid4().hex)
    expect_error("RESOURCE_DOES_NOT_EXIST", "get_experiment of an unknown id", client.get_experiment,
                 "987654321")
    check(client.get_experiment_by_name(f"nope-{SUFFIX}") is None, "get_experiment_by_name of an unknown name")
    expect_error("RESOURCE_ALREADY_EXISTS", "create_experiment with a taken name", client.create_experiment,
                 EXPERIMENT)
    expect_error("INVALID_PARAMETER_VALUE", "log_param of a value over 6000 characters", client.log_param,
                 run_id, "notes", "x" * 6001)
    expect_error("INVALID_PARAMETER_VALUE", "log_param changing a logged value", client.log_param,
                 run_id, "C", "1.0")
    expect_error("INVALID_PARAMETER_VALUE", "search_runs with a malformed filter", client.search_runs,
                 [exp_id], filter_string="params.C = ")


def artifacts(client):
    print("stage artifacts", flush=True)
    mlflow.set_experiment(EXPERIMENT)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "src")
        (src / "plots" / "sub").mkdir(parents=True)
        report = src / "report.txt"
        report.write_text("accuracy 0.93\n" + "line of the report\n" * 1000)
        weights = src / "weights.bin"
        # Every byte value, 3 MiB and a bit: more than the client's 1 MiB download chunk.
        weights.write_bytes(bytes((i * 31 + 7) % 256 for i in range(3 * 1024 * 1024 + 12345)))
        (src / "plots" / "roc.csv").write_text("fpr,tpr\n0,0\n0.1,0.8\n1,1\n")
        (src / "plots" / "sub" / "confusion.json").write_text('{"tp": 8, "fp": 1, "fn": 2, "tn": 9}')

        with mlflow.start_run(run_name="artifacts") as active:
            run_id = active.info.run_id
            mlflow.log_artifact(str(report))
            mlflow.log_artifact(str(weights), artifact_path="model")
            mlflow.log_artifacts(str(src / "plots"), artifact_path="plots")
            mlflow.log_dict({"C": 0.5, "solver": "lbfgs"}, "config.json")
        print(f"ARTIFACT_RUN_ID={run_id}", flush=True)
        root = client.get_run(run_id).info.artifact_uri

        with section("list_artifacts"):
            top = {f.path: f for f in client.list_artifacts(run_id)}
            check_equal(sorted(top), ["config.json", "model", "plots", "report.txt"], "list_artifacts at the root")
            check(top["model"].is_dir and top["plots"].is_dir and not top["report.txt"].is_dir,
                  "directories are marked as such", {p: f.is_dir for p, f in top.items()})
            check_equal(top["report.txt"].file_size, report.stat().st_size, "the text file's size")
            # Below the root, by the run's artifact URI: straight to the proxy.
            nested = [(f.path, f.is_dir) for f in mlflow.artifacts.list_artifacts(artifact_uri=f"{root}/plots")]
            check_equal(sorted(nested), [("plots/roc.csv", False), ("plots/sub", True)],
                        "list_artifacts of a directory by artifact URI")
            # The client lists `<uri>` as the path `basename(uri)` under `dirname(uri)`.
            deeper = [(f.path, f.file_size) for f in mlflow.artifacts.list_artifacts(artifact_uri=f"{root}/plots/sub")]
            check_equal(deeper, [("sub/confusion.json", (src / "plots/sub/confusion.json").stat().st_size)],
                        "list_artifacts two levels down by artifact URI")

        # MlflowClient.list_artifacts(run_id, path) goes through `runs:/`, which in MLflow 3 also
        # looks for a logged model named like the path's first segment (logged-models/search).
        if wanted("list_artifacts of a path"):
            with section("list_artifacts of a path"):
                plots = {f.path: f.is_dir for f in client.list_artifacts(run_id, "plots")}
                check_equal(plots, {"plots/roc.csv": False, "plots/sub": True}, "list_artifacts of a directory")
                nested = [(f.path, f.file_size) for f in client.list_artifacts(run_id, "plots/sub")]
                check_equal(nested,
                            [("plots/sub/confusion.json", (src / "plots/sub/confusion.json").stat().st_size)],
                            "list_artifacts two levels down")
                model_dir = [(f.path, f.file_size) for f in client.list_artifacts(run_id, "model")]
                check_equal(model_dir, [("model/weights.bin", weights.stat().st_size)], "the binary file's size")
                check_equal(client.list_artifacts(run_id, "nothing-here"), [], "list_artifacts of a missing path")

        with section("download_artifacts"):
            dst = Path(tmp, "one")
            path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="model/weights.bin",
                                                       dst_path=str(dst))
            check_equal(sha256(path), sha256(weights), "download_artifacts of the binary file, byte-identical")
            everything = Path(mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(Path(tmp, "all"))))
            for rel in ["report.txt", "model/weights.bin", "plots/roc.csv", "plots/sub/confusion.json"]:
                check_equal(sha256(everything / rel), sha256(src / rel.replace("model/", "")),
                            f"the whole run downloaded: {rel} byte-identical")
            downloaded = sorted(str(p.relative_to(everything)) for p in everything.rglob("*") if p.is_file())
            check_equal(downloaded, ["config.json", "model/weights.bin", "plots/roc.csv",
                                     "plots/sub/confusion.json", "report.txt"], "nothing more, nothing less")

        with section("load_dict, load_text"):
            check_equal(mlflow.artifacts.load_dict(f"runs:/{run_id}/config.json"), {"C": 0.5, "solver": "lbfgs"},
                        "load_dict of the logged dict")
            check_equal(mlflow.artifacts.load_text(f"runs:/{run_id}/report.txt"), report.read_text(),
                        "load_text of the report")

        expect_error("RESOURCE_DOES_NOT_EXIST", "download_artifacts of a missing file",
                     mlflow.artifacts.download_artifacts, run_id=run_id, artifact_path="missing.txt",
                     dst_path=str(Path(tmp, "missing")))
        try:
            mlflow.artifacts.download_artifacts(artifact_uri=f"{root}/missing.txt", dst_path=str(Path(tmp, "m2")))
        except Exception as err:  # the proxy's repository raises requests' HTTPError, not MlflowException
            check("404" in str(err), "the proxy answers a missing file with 404", str(err))
        else:
            fail("downloading a missing artifact by URI succeeded")


def models(client):
    print("stage models", flush=True)
    import numpy as np
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    mlflow.set_experiment(EXPERIMENT)
    name = f"churn-model-{SUFFIX}"
    x, y = make_classification(n_samples=200, n_features=6, random_state=7)
    fitted = [(c, LogisticRegression(C=float(c), max_iter=500).fit(x, y)) for c in ["0.1", "1.0", "10.0"]]
    trained, runs = {}, {}

    # MLflow 3: log_model makes a logged model (models:/m-...), register_model versions it.
    sources = {}
    if wanted("log_model"):
        with section("log_model"):
            for c, model in fitted:
                with mlflow.start_run(run_name=f"sk-C{c}") as active:
                    mlflow.log_param("C", c)
                    mlflow.log_metric("acc", float(model.score(x, y)))
                    info = mlflow.sklearn.log_model(model, name="model", input_example=x[:2])
                    check(info.model_uri.startswith("models:/m-"), "log_model gives a logged model URI",
                          info.model_uri)
                version = mlflow.register_model(info.model_uri, name)
                trained[version.version] = model
                runs[version.version] = active.info.run_id
                sources[version.version] = info.model_uri
            logged = client.get_logged_model(info.model_id)
            check_equal(str(logged.status), "READY", "the logged model is finalized")
            check_equal(logged.source_run_id, runs["3"], "the logged model names its run")
            outputs = client.get_run(runs["3"]).outputs.model_outputs
            check_equal([o.model_id for o in outputs], [info.model_id], "the run lists its logged model")
    if not trained:
        # Without logged models: the model saved among the run's artifacts, versioned from
        # runs:/<run>/model, as with MLflow 2.
        client.create_registered_model(name, tags={"team": "retention"}, description="churn classifier")
        for c, model in fitted:
            with mlflow.start_run(run_name=f"sk-C{c}") as active, tempfile.TemporaryDirectory() as tmp:
                mlflow.log_param("C", c)
                mlflow.log_metric("acc", float(model.score(x, y)))
                mlflow.sklearn.save_model(model, f"{tmp}/model", input_example=x[:2])
                mlflow.log_artifacts(f"{tmp}/model", artifact_path="model")
            run_id = active.info.run_id
            version = client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
            trained[version.version] = model
            runs[version.version] = run_id
            sources[version.version] = f"runs:/{run_id}/model"
    if wanted("model version source"):
        with section("model version source"):
            check_equal(client.get_model_version(name, "3").source, sources["3"],
                        "a version keeps the source it was created from")
    check_equal(sorted(trained), ["1", "2", "3"], "three registered versions, numbered 1 to 3")
    check_equal(client.get_model_version(name, "2").status, "READY", "a version is READY")
    check_equal(client.get_model_version(name, "3").run_id, runs["3"], "a version names its run")

    expect_error("RESOURCE_ALREADY_EXISTS", "create_registered_model with a taken name",
                 client.create_registered_model, name)
    expect_error("RESOURCE_DOES_NOT_EXIST", "get_model_version of an unknown version",
                 client.get_model_version, name, "99")
    expect_error("RESOURCE_DOES_NOT_EXIST", "get_registered_model of an unknown name",
                 client.get_registered_model, f"nope-{SUFFIX}")

    with section("aliases"):
        client.set_registered_model_alias(name, "champion", "1")
        check_equal(client.get_model_version_by_alias(name, "champion").version, "1", "alias champion on version 1")
        client.set_registered_model_alias(name, "champion", "2")
        check_equal(client.get_model_version_by_alias(name, "champion").version, "2", "the alias moved to version 2")
        check_equal(client.get_model_version(name, "1").aliases, [], "version 1 lost the alias")
        check_equal(client.get_model_version(name, "2").aliases, ["champion"], "version 2 holds it")
        check_equal(client.get_registered_model(name).aliases, {"champion": "2"}, "the model lists its alias")
    expect_error("INVALID_PARAMETER_VALUE", "get_model_version_by_alias of an unset alias",
                 client.get_model_version_by_alias, name, "challenger")
    if wanted("delete an unset alias"):
        with section("delete an unset alias"):
            client.delete_registered_model_alias(name, "challenger")
            check(True, "deleting an alias that is not set is a no-op, as in MLflow")
    expect_error("INVALID_PARAMETER_VALUE", "a reserved alias name", client.set_registered_model_alias,
                 name, "v1", "1")

    with section("stages"):
        client.transition_model_version_stage(name, "2", "Staging")
        check_equal(client.get_model_version(name, "2").current_stage, "Staging", "version 2 in Staging")
        client.transition_model_version_stage(name, "2", "Production")
        client.transition_model_version_stage(name, "3", "Production", archive_existing_versions=True)
        check_equal(client.get_model_version(name, "3").current_stage, "Production", "version 3 in Production")
        check_equal(client.get_model_version(name, "2").current_stage, "Archived",
                    "archive_existing_versions archived version 2")
    expect_error("INVALID_PARAMETER_VALUE", "transition to an unknown stage",
                 client.transition_model_version_stage, name, "1", "NotAStage")
    if wanted("get_latest_versions"):
        with section("get_latest_versions"):
            latest = client.get_latest_versions(name, stages=["Production"])
            check_equal([v.version for v in latest], ["3"], "get_latest_versions in Production")

    with section("tags and descriptions"):
        client.set_model_version_tag(name, "1", "validated", "true")
        check_equal(client.get_model_version(name, "1").tags, {"validated": "true"}, "set_model_version_tag")
        client.set_registered_model_tag(name, "owner", "growth")
        client.delete_registered_model_tag(name, "team")
        check_equal(client.get_registered_model(name).tags, {"owner": "growth"},
                    "set and delete registered model tags")
        client.update_model_version(name, "3", description="C = 10")
        check_equal(client.get_model_version(name, "3").description, "C = 10", "update_model_version")
        client.update_registered_model(name, description="churn classifier, v2")
        check_equal(client.get_registered_model(name).description, "churn classifier, v2",
                    "update_registered_model")

    if wanted("search_model_versions"):
        with section("search_model_versions"):
            tagged = client.search_model_versions(f"name = '{name}' and tags.validated = 'true'")
            check_equal([v.version for v in tagged], ["1"], "search_model_versions by tag")
            by_run = client.search_model_versions(f"name = '{name}' and run_id = '{runs['3']}'")
            check_equal([v.version for v in by_run], ["3"], "search_model_versions by run_id")
            pages, token = [], None
            for _ in range(5):
                page = client.search_model_versions(f"name = '{name}'", max_results=2,
                                                    order_by=["version_number DESC"], page_token=token)
                pages.append([v.version for v in page])
                token = page.token
                if not token:
                    break
            check_equal(pages[0], ["3", "2"], "the first page of two versions, newest first")
            check_equal([v for p in pages for v in p], ["3", "2", "1"], "paging through the versions")

    if wanted("search_model_versions IN and source_path"):
        with section("search_model_versions IN and source_path"):
            found = client.search_model_versions(f"name = '{name}' and run_id IN ('{runs['1']}', '{runs['2']}')")
            check_equal(sorted(v.version for v in found), ["1", "2"], "search_model_versions with run_id IN")
            source = client.get_model_version(name, "2").source
            found = client.search_model_versions(f"name = '{name}' and source_path = '{source}'")
            check_equal([v.version for v in found], ["2"], "search_model_versions by source_path")

    if wanted("load by alias"):
        with section("load by alias"):
            loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
            check(np.array_equal(np.asarray(loaded.predict(x)), trained["2"].predict(x)),
                  "models:/name@champion predicts as the in-memory model")
            sk = mlflow.sklearn.load_model(f"models:/{name}/3")
            check(np.array_equal(sk.predict_proba(x), trained["3"].predict_proba(x)),
                  "mlflow.sklearn.load_model of version 3 gives the same probabilities")

    if wanted("delete_model_version"):
        with section("delete_model_version"):
            client.delete_model_version(name, "1")
            expect_error("RESOURCE_DOES_NOT_EXIST", "get_model_version of the deleted version",
                         client.get_model_version, name, "1")
            check_equal(client.get_model_version(name, "3").version, "3", "the other versions keep their numbers")

    if wanted("rename_registered_model"):
        with section("rename_registered_model"):
            renamed = f"{name}-renamed"
            client.rename_registered_model(name, renamed)
            check_equal(client.get_registered_model(renamed).name, renamed, "rename_registered_model")
            check_equal(client.get_model_version(renamed, "3").current_stage, "Production",
                        "the versions moved along")
            expect_error("RESOURCE_DOES_NOT_EXIST", "the old name is gone", client.get_registered_model, name)
            name = renamed

    with section("delete_registered_model"):
        client.delete_registered_model(name)
        expect_error("RESOURCE_DOES_NOT_EXIST", "get_registered_model after delete",
                     client.get_registered_model, name)
        expect_error("RESOURCE_DOES_NOT_EXIST", "its versions went too", client.get_model_version, name, "3")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", default=",".join(STAGES), help="comma list of " + ", ".join(STAGES))
    parser.add_argument("--keep-going", action="store_true",
                        help="record a failed check and go on, to list every mismatch in one run")
    parser.add_argument("--skip", default="",
                        help="comma list of sections to leave out (delete_run, list_artifacts of a path)")
    args = parser.parse_args()
    global KEEP_GOING
    KEEP_GOING = args.keep_going
    SKIP.update(s.strip() for s in args.skip.split(",") if s.strip())
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        parser.error(f"unknown stages {unknown}; known: {', '.join(STAGES)}")
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_TOKEN"):
        if not os.environ.get(var):
            parser.error(f"{var} must be set")
    print(f"mlflow {mlflow.__version__} against {mlflow.get_tracking_uri()}", flush=True)
    client = MlflowClient()
    started = time.monotonic()
    run = {"tracking": tracking, "artifacts": artifacts, "models": models}
    for stage in STAGES:
        if stage in stages:
            with section(f"stage {stage}"):
                run[stage](client)
    elapsed = time.monotonic() - started
    if FAILURES:
        print(f"{len(FAILURES)} failed checks in {elapsed:.1f} s:", flush=True)
        for failure in FAILURES:
            print(f"  - {failure}", flush=True)
        return 1
    print(f"passed: {', '.join(stages)} in {elapsed:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
