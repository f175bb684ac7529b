#!/usr/bin/env bash
# Creates .tools/mlflow-venv (ignored by git) with the real `mlflow` client and scikit-learn,
# which tests/mlflow/workflow.py drives against a Lathe gateway (tests/tests/mlflow_client.rs).
# Does nothing when the venv already has them, so the test can call it every time.
# The pin is the version docs/mlflow.md and ../shared/mlflow-api.md were recorded from; if pip
# cannot resolve it, the newest 3.x is installed instead and the script says so.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/.tools/mlflow-venv"
pin="3.17.2"
check='import mlflow, sklearn; print("mlflow", mlflow.__version__, "scikit-learn", sklearn.__version__)'

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$check" 2>/dev/null; then
    exit 0
fi

python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --no-cache-dir --upgrade pip
if ! "$venv/bin/pip" install --quiet --no-cache-dir "mlflow==$pin" scikit-learn; then
    echo "mlflow==$pin did not install; installing the newest mlflow 3.x" >&2
    "$venv/bin/pip" install --quiet --no-cache-dir "mlflow>=3,<4" scikit-learn
fi
"$venv/bin/python" -c "$check"
