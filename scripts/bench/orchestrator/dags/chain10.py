"""Orchestrator benchmark, Airflow side: 10 no-op command tasks in a chain (t01 >> ... >> t10).

Each task runs the shell command `true`. Triggered by hand only (schedule=None); the benchmark
measures trigger-to-success time (scripts/bench/orchestrator/airflow.sh).
"""

from __future__ import annotations

import datetime

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, chain

with DAG(
    dag_id="chain10",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
    tags=["lathe-bench"],
):
    chain(*[BashOperator(task_id=f"t{i:02d}", bash_command="true") for i in range(1, 11)])
