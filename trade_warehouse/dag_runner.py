"""Run the pipeline DAG once through Airflow itself (``dag.test()``), in this process.

Used by ``make run`` / ``make backfill`` (in a child process whose output goes to a log
file) and by the end-to-end tests. Exit status 0 only if every task succeeded.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime

from trade_warehouse.airflow_env import DAG_ID, DAGS_DIR, airflow_environment


def run_dag(conf: dict, dag_id: str = DAG_ID, logical_date: datetime | None = None) -> dict:
    """Parse the DAG folder, run one DAG run with ``conf``, return its state and task states."""
    for key, value in airflow_environment().items():
        os.environ.setdefault(key, value)
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    dag = bag.get_dag(dag_id)
    run = dag.test(run_conf=conf, logical_date=logical_date)
    tasks = sorted(
        ({"task_id": ti.task_id, "state": str(ti.state)} for ti in run.get_task_instances()),
        key=lambda t: t["task_id"],
    )
    return {"state": str(run.state), "run_id": run.run_id, "tasks": tasks}


def main(argv: list[str]) -> int:
    """``python -m trade_warehouse.dag_runner CONF_JSON [RESULT_JSON [DAG_ID [LOGICAL_DATE]]]``."""
    conf = json.loads(argv[0])
    dag_id = argv[2] if len(argv) > 2 else DAG_ID
    logical_date = datetime.fromisoformat(argv[3]) if len(argv) > 3 else None
    result = run_dag(conf, dag_id, logical_date)
    if len(argv) > 1:
        with open(argv[1], "w", encoding="utf-8") as handle:
            json.dump(result, handle)
    return 0 if result["state"].endswith("success") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
