#!/usr/bin/env python3
"""Makes the ONNX fixtures of services/serving's tests, and what scikit-learn itself predicts.

Run it with any python3: it re-executes itself inside .tools/serving-venv, which it creates
with the pinned packages below when missing. The outputs are committed, so the Rust tests
need no Python; rerun this only to change the fixtures.

Every model is trained on one deterministic synthetic data set of 3 features and exported
the way a team would export it:
- skl2onnx `to_onnx` with opset 17 and ai.onnx.ml opset 3 (TreeEnsembleClassifier /
  LinearClassifier; ai.onnx.ml 5 would emit the newer `TreeEnsemble` op, which tract lacks);
- `zipmap=False`, so probabilities are a plain [N, classes] tensor, except for
  `logreg_zipmap.onnx`, exported with skl2onnx's default ZipMap, which the runtime must
  accept too (it drops the trailing ZipMap at load).
`expected.json` holds the test rows (float32 values, so Rust and scikit-learn see the same
numbers) and, per model, scikit-learn's own `predict` and `predict_proba` on them.
A rerun writes the same models and the same expected.json, but skl2onnx varies a few bytes of
some .onnx files from run to run: commit those only when a model really changed.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".tools" / "serving-venv"
OUT = ROOT / "services" / "serving" / "tests" / "fixtures"
PINS = ["scikit-learn==1.7.2", "skl2onnx==1.20.0", "onnx==1.23.2", "numpy==2.4.6"]


def ensure_venv():
    python = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    # Quick when the pins are already installed: pip answers from the venv.
    pip = [str(python), "-m", "pip", "install", "--quiet", "--no-cache-dir"]
    subprocess.run([*pip, *PINS], check=True)
    os.execv(str(python), [str(python), __file__, *sys.argv[1:]])


def main():
    import numpy as np
    import onnx
    from sklearn.datasets import make_classification, make_regression
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        GradientBoostingRegressor,
    )
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    from skl2onnx import to_onnx

    opsets = {"": 17, "ai.onnx.ml": 3}

    def f32(a):
        # The values the runtime will see: scikit-learn predicts on the same float32 numbers.
        return np.asarray(a, dtype=np.float32).astype(np.float64)

    X, y = make_classification(
        n_samples=600, n_features=3, n_informative=3, n_redundant=0,
        n_clusters_per_class=1, class_sep=0.8, random_state=7,
    )
    X = f32(X)
    X3, y3 = make_classification(
        n_samples=600, n_features=3, n_informative=3, n_redundant=0, n_classes=3,
        n_clusters_per_class=1, random_state=11,
    )
    X3 = f32(X3)
    tiers = np.array(["bronze", "silver", "gold"])[y3]
    Xr, yr = make_regression(n_samples=300, n_features=3, noise=5.0, random_state=5)
    Xr = f32(Xr)

    rng = np.random.default_rng(19)
    rows = f32(np.vstack([
        X[:20],
        X3[:10],
        rng.normal(0.0, 2.0, size=(18, 3)),
        np.zeros((1, 3)),
        [[25.0, -25.0, 3.5]],
    ]))

    no_zipmap = {"zipmap": False}
    logreg = LogisticRegression(max_iter=1000).fit(X, y)
    models = {
        "logreg": (logreg, no_zipmap),
        # skl2onnx's default export: probabilities as a ZipMap (a sequence of maps).
        "logreg_zipmap": (logreg, {}),
        "gbc": (
            GradientBoostingClassifier(n_estimators=40, max_depth=3, random_state=0).fit(X, y),
            no_zipmap,
        ),
        "gbc_tiers": (
            GradientBoostingClassifier(n_estimators=30, max_depth=2, random_state=0).fit(X3, tiers),
            no_zipmap,
        ),
        # The usual pipeline: a Scaler (ai.onnx.ml) before the LinearClassifier.
        "scaled_logreg": (
            make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X * 40.0 + 3.0, y),
            no_zipmap,
        ),
        "linreg": (LinearRegression().fit(Xr, yr), {}),
        "gbr": (GradientBoostingRegressor(n_estimators=10, max_depth=2, random_state=0).fit(Xr, yr), {}),
        # Refused at load: SVMClassifier is an operator the runtime lacks.
        "svc": (SVC().fit(X, y), no_zipmap),
        # Refused at load: trees are served only as the whole model.
        "scaled_gbc": (
            make_pipeline(
                StandardScaler(), GradientBoostingClassifier(n_estimators=5, random_state=0)
            ).fit(X, y),
            no_zipmap,
        ),
    }

    REFUSED = {"svc", "scaled_gbc"}
    OUT.mkdir(parents=True, exist_ok=True)
    expected = {"features": 3, "rows": rows.astype(np.float32).tolist(), "models": {}}
    sample = rows[:1].astype(np.float32)
    for name, (model, options) in models.items():
        onx = to_onnx(model, sample, target_opset=opsets, options=options)
        onnx.checker.check_model(onx)
        (OUT / f"{name}.onnx").write_bytes(onx.SerializeToString())
        entry = {
            "file": f"{name}.onnx",
            "operators": sorted({f"{n.domain or 'ai.onnx'}.{n.op_type}" for n in onx.graph.node}),
        }
        if name in REFUSED:
            entry["refused_at_load"] = True
        elif hasattr(model, "predict_proba"):
            entry["classes"] = model.classes_.tolist()
            entry["labels"] = model.predict(rows).tolist()
            entry["probabilities"] = model.predict_proba(rows).tolist()
        else:
            entry["values"] = model.predict(rows).tolist()
        expected["models"][name] = entry

    # A model whose input width is not declared (["N", "F"]): the runtime cannot check it
    # against a signature, so it refuses it.
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Sigmoid", ["input"], ["output"])],
        "open_width",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", "F"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", "F"])],
    )
    crafted = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(crafted)
    (OUT / "open_width.onnx").write_bytes(crafted.SerializeToString())

    versions = {}
    for pin in PINS:
        name = pin.split("==")[0]
        module = {"scikit-learn": "sklearn"}.get(name, name)
        versions[name] = __import__(module).__version__
    expected["made_with"] = versions
    (OUT / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    for name, entry in expected["models"].items():
        print(f"{name}: {', '.join(entry['operators'])}")


if __name__ == "__main__":
    ensure_venv()
    main()
