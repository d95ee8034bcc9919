"""Run the pipeline DAG once through Airflow itself (``dag.test()``), in this process.

Used by ``make run`` / ``make backfill`` (in a child process whose output goes to a log
file) and by the end-to-end tests. Exit status 0 only if every task succeeded.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime

from trade_warehouse.orchestration.airflow_env import DAG_ID, DAGS_DIR, airflow_environment
from trade_warehouse.orchestration.in_process import tasks_in_this_process, trim_in_process_api_versions
from trade_warehouse.transform import dbt_process


def run_dag(conf: dict, dag_id: str = DAG_ID, logical_date: datetime | None = None) -> dict:
    """Parse the DAG folder, run one DAG run with ``conf``, return its state and task states."""
    with tasks_in_this_process():
        try:
            return _run_dag(conf, dag_id, logical_date)
        finally:
            dbt_process.discard()  # a dbt process the load started ahead that no build took


def _run_dag(conf: dict, dag_id: str, logical_date: datetime | None) -> dict:
    for key, value in airflow_environment().items():
        os.environ.setdefault(key, value)
    from airflow.dag_processing.dagbag import DagBag

    trim_in_process_api_versions()  # dag.test()'s in-process API: the client's versions only
    bag = DagBag(dag_folder=str(DAGS_DIR))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    dag = bag.get_dag(dag_id)
    run = dag.test(run_conf=conf, logical_date=logical_date)
    tasks = sorted(
        (
            {
                "task_id": ti.task_id,
                "state": str(ti.state),
                "end_date": ti.end_date.isoformat() if ti.end_date else None,
            }
            for ti in run.get_task_instances()
        ),
        key=lambda t: t["task_id"],
    )
    return {
        "state": str(run.state),
        "run_id": run.run_id,
        "tasks": tasks,
        "stages": stage_results(dag_id, run.run_id),
        "task_failures": task_failures(dag_id, run.run_id),
    }


def stage_results(dag_id: str, run_id: str) -> dict:
    """The extract and load summaries (their XCom) of a run: what the CLI reports, per month.

    Reporting never fails the run: if the results cannot be read, the CLI falls back to
    the log.
    """
    try:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            rows = session.scalars(
                XComModel.get_many(run_id=run_id, dag_ids=dag_id, key="return_value", task_ids=["extract", "load"])
            ).all()
            return {row.task_id: XComModel.deserialize_value(row) for row in rows}
    except Exception as error:  # noqa: BLE001 - a report, not a stage
        return {"error": f"stage results unavailable: {error.__class__.__name__}: {error}"}


def task_failures(dag_id: str, run_id: str) -> list[dict]:
    """The typed causes (``TaskFailure`` XCom) the run's failed tasks left; empty if unreadable."""
    from trade_warehouse.core.results import TASK_FAILURE_KEY

    try:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            rows = session.scalars(XComModel.get_many(run_id=run_id, dag_ids=dag_id, key=TASK_FAILURE_KEY)).all()
            return [XComModel.deserialize_value(row) for row in rows]
    except Exception:  # noqa: BLE001 - a report, not a stage: the CLI then points at the log
        return []


def main(argv: list[str]) -> int:
    """``python -m trade_warehouse.orchestration.dag_runner CONF_JSON [RESULT_JSON [DAG_ID [LOGICAL_DATE]]]``."""
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
