#!/usr/bin/env python3
"""Data and models of the serving benchmark (run with .tools/bench-serving-mlflow's Python).

    models.py OUT_DIR --entities 10000

Writes, in OUT_DIR:
- data/features.parquet: one row per entity (driver_id 1..N, event_timestamp an hour ago,
  created, f0, f1, f2 as float32), the online store's content for both systems;
- logreg/ and gbc/: each a scikit-learn model (LogisticRegression, GradientBoostingClassifier
  with make-fixtures.py's settings) trained on the same 3 features, as `model.onnx` (skl2onnx
  as scripts/serving/make-fixtures.py exports it: zipmap off, opset 17, ai.onnx.ml 3) and as
  an MLflow sklearn model in `mlflow/` whose pyfunc answers `predict_proba`, so both systems
  answer class probabilities;
- expected.json: the 100 entity ids of the check request and, per model, scikit-learn's
  `predict` and `predict_proba` on those entities' float32 features.
"""

import argparse
import datetime as dt
import json
import os
import shutil

import numpy as np
import pandas as pd

COLUMNS = ["f0", "f1", "f2"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--entities", type=int, default=10000)
    args = ap.parse_args()

    import mlflow.sklearn
    import onnx
    from mlflow.models import infer_signature
    from sklearn.datasets import make_classification
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from skl2onnx import to_onnx

    n = args.entities
    # make-fixtures.py's data set, drawn for every entity; the models train on the first 600.
    X, y = make_classification(
        n_samples=n, n_features=3, n_informative=3, n_redundant=0,
        n_clusters_per_class=1, class_sep=0.8, random_state=7,
    )
    X = X.astype(np.float32)
    frame = pd.DataFrame(X, columns=COLUMNS)
    train = frame.iloc[:600]
    labels = y[:600]

    os.makedirs(os.path.join(args.out, "data"), exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    ts = pd.Timestamp(now - dt.timedelta(hours=1))
    table = pd.DataFrame({
        "driver_id": np.arange(1, n + 1, dtype=np.int64),
        "event_timestamp": pd.Series([ts] * n, dtype="datetime64[us, UTC]"),
        "created": pd.Series([ts] * n, dtype="datetime64[us, UTC]"),
    })
    for c in COLUMNS:
        table[c] = frame[c].values
    table.to_parquet(os.path.join(args.out, "data", "features.parquet"), index=False)

    ids = [1 + (i * 97) % n for i in range(100)]
    sample = frame.iloc[[i - 1 for i in ids]]
    expected = {"ids": ids, "features": sample.values.astype(float).tolist(),
                "timestamp": now.isoformat(), "models": {}}

    models = {
        "logreg": LogisticRegression(max_iter=1000),
        "gbc": GradientBoostingClassifier(n_estimators=40, max_depth=3, random_state=0),
    }
    for name, model in models.items():
        model.fit(train, labels)
        d = os.path.join(args.out, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        onx = to_onnx(model, X[:1], target_opset={"": 17, "ai.onnx.ml": 3},
                      options={"zipmap": False})
        onnx.checker.check_model(onx)
        with open(os.path.join(d, "model.onnx"), "wb") as f:
            f.write(onx.SerializeToString())
        signature = infer_signature(train, model.predict_proba(train))
        # MLflow's default format (skops) refuses tree models unless their node type is trusted.
        trusted = ["sklearn.tree._tree.Tree"] if name == "gbc" else None
        mlflow.sklearn.save_model(model, os.path.join(d, "mlflow"), signature=signature,
                                  pyfunc_predict_fn="predict_proba", skops_trusted_types=trusted)
        expected["models"][name] = {
            "classes": [str(c) for c in model.classes_.tolist()],
            "labels": [str(v) for v in model.predict(sample).tolist()],
            "probabilities": model.predict_proba(sample).tolist(),
        }
    with open(os.path.join(args.out, "expected.json"), "w") as f:
        json.dump(expected, f)
    print(json.dumps({"entities": n, "timestamp": now.isoformat(), "models": list(models)}))


if __name__ == "__main__":
    main()
