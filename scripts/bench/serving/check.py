#!/usr/bin/env python3
"""Checks one answer of each system against scikit-learn's own (models.py's expected.json).

    check.py lathe-online  EXPECTED ANSWER.json
    check.py lathe-predict EXPECTED MODEL ANSWER.json
    check.py glue          EXPECTED MODEL ANSWER.json

The answers are for the 100 entities of expected.json's `ids`, in that order: Lathe's
`/features/online` answer (its values against the source's float32 features), Lathe's
predict answer with `include_features` (labels, probabilities within 1e-4 of
`predict_proba`: ONNX runs in float32, scikit-learn in float64; the features used), and
glue.py's check answer (MLflow's `predict_proba` rows and the features Feast gave). Prints
one JSON line {"ok": bool, "checked": n, "problems": [...]}.
"""

import json
import sys

TOL = 1e-4


def close(a, b, tol):
    return len(a) == len(b) and all(abs(x - y) <= tol for x, y in zip(a, b))


def main():
    kind, expected = sys.argv[1], json.load(open(sys.argv[2]))
    features = expected["features"]
    problems = []
    if kind == "lathe-online":
        answer = json.load(open(sys.argv[3]))
        names = answer["metadata"]["feature_names"]
        cols = {n: r["values"] for n, r in zip(names, answer["results"])}
        # Feast's naming, which Lathe follows: bare feature names without full_feature_names.
        got = [[cols[c][i] for c in ("f0", "f1", "f2")] for i in range(len(features))]
        for i, (g, e) in enumerate(zip(got, features)):
            if not close(g, e, 1e-6):
                problems.append(f"entity {expected['ids'][i]}: {g} vs {e}")
        n = len(got)
    else:
        model = sys.argv[3]
        answer = json.load(open(sys.argv[4]))
        sk = expected["models"][model]
        if kind == "lathe-predict":
            preds = answer["predictions"]
            rows = [p.get("features", []) for p in preds]
            probs = [p["probabilities"] for p in preds]
            for i, p in enumerate(preds):
                if p["label"] != sk["labels"][i]:
                    problems.append(f"entity {expected['ids'][i]}: label {p['label']} vs {sk['labels'][i]}")
            if answer.get("classes") != sk["classes"]:
                problems.append(f"classes {answer.get('classes')} vs {sk['classes']}")
        else:
            rows, probs = answer["features"], answer["predictions"]
        if len(probs) != len(features):
            problems.append(f"{len(probs)} predictions for {len(features)} entities")
        for i, (p, e) in enumerate(zip(probs, sk["probabilities"])):
            if not close(p, e, TOL):
                problems.append(f"entity {expected['ids'][i]}: probabilities {p} vs {e}")
        for i, (r, e) in enumerate(zip(rows, features)):
            if not close(r, e, 1e-6):
                problems.append(f"entity {expected['ids'][i]}: features used {r} vs {e}")
        n = len(probs)
    print(json.dumps({"ok": not problems, "checked": n, "problems": problems[:5]}))


if __name__ == "__main__":
    main()
