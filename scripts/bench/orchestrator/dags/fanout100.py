"""Orchestrator benchmark, Airflow side: 100 independent no-op command tasks.

Each task runs the shell command `true`; there are no dependencies between them. Triggered by
hand only (schedule=None). How many run at once is bounded by [core] parallelism and the DAG's
max_active_tasks, which airflow.sh sets both to BENCH_AIRFLOW_PARALLELISM (default 32) through
[core] max_active_tasks_per_dag: this file leaves max_active_tasks at that configured default.
"""

from __future__ import annotations

import datetime

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

with DAG(
    dag_id="fanout100",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
    tags=["lathe-bench"],
):
    for i in range(1, 101):
        BashOperator(task_id=f"t{i:03d}", bash_command="true")
