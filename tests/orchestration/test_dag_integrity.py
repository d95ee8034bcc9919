"""The DAG folder imports cleanly, parses fast without network, and is wired safely."""

import copy
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trade_warehouse.airflow_env import DAG_ID, DAGS_DIR, NIGHTLY_DAG_ID

pytestmark = pytest.mark.dag
WRITERS = {"load", "transform_and_publish"}  # the tasks that open the warehouse read-write


@pytest.fixture(scope="module")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {DAG_ID, NIGHTLY_DAG_ID}


def test_parses_quickly_without_network(airflow_db, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    def no_network(*args, **kwargs):
        raise AssertionError("DAG parsing must not open network connections")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    started = time.perf_counter()
    bag = DagBag(dag_folder=str(DAGS_DIR))
    elapsed = time.perf_counter() - started
    assert bag.import_errors == {}
    assert elapsed < 1.0, f"parsing took {elapsed:.2f}s"


@pytest.mark.parametrize("dag_id", [DAG_ID, NIGHTLY_DAG_ID])
def test_writers_pool_retries_timeouts_docs(dagbag, dag_id):
    dag = dagbag.get_dag(dag_id)
    assert dag.max_active_runs == 1 and dag.doc_md
    for task in dag.tasks:
        assert (task.pool == "duckdb_writer") == (task.task_id in WRITERS), task.task_id
        # Celery: writers go to the one-worker `duckdb` queue, everything else to the default queue
        assert (task.queue == "duckdb") == (task.task_id in WRITERS), task.task_id
        assert task.execution_timeout is not None, task.task_id
        assert task.doc_md, task.task_id
        assert not task.depends_on_past, task.task_id
        assert task.on_failure_callback, task.task_id
    retried = {t.task_id for t in dag.tasks if t.retries > 0}
    assert {"extract", "load", "transform_and_publish"} <= retried
    assert {"plan", "finish"}.isdisjoint(retried)  # bad params and failed months fail fast, once


def test_schedules_and_tags_as_documented(dagbag):
    nightly, monthly = dagbag.get_dag(NIGHTLY_DAG_ID), dagbag.get_dag(DAG_ID)
    assert nightly.timetable.expression == "0 14 * * *"
    assert monthly.timetable.expression in ("@monthly", "0 0 1 * *")
    assert "nightly" in nightly.tags and "backfill" in monthly.tags
    assert not nightly.catchup and not monthly.catchup
    outlets = [o for t in monthly.tasks for o in t.outlets]
    assert [o.name for o in outlets] == ["trade_warehouse_serving"]


def test_params_reject_bad_months(dagbag):
    from airflow.sdk.definitions.param import ParamValidationError

    params = copy.deepcopy(dagbag.get_dag(DAG_ID).params)
    params["month"] = "2016-03"
    with pytest.raises(ParamValidationError, match="2016-13"):
        params["month"] = "2016-13"
    with pytest.raises(ParamValidationError):
        params["force"] = "yes please"


def test_airflow_backfill_create_makes_one_run_per_month(airflow_db):
    """`airflow backfill create` (dry run) plans one run per month; each run loads its logical month."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    env = dict(os.environ, AIRFLOW__CORE__DAGS_FOLDER=str(DAGS_DIR))
    subprocess.run([airflow, "dags", "reserialize"], env=env, check=True, capture_output=True)
    planned = subprocess.run(
        # --reprocess-behavior completed: other tests of the session may have run some of these months
        [airflow, "backfill", "create", "--dag-id", DAG_ID, "--from-date", "2014-01-01", "--to-date", "2014-12-01",
         "--max-active-runs", "1", "--reprocess-behavior", "completed", "--dry-run"],
        env=env, check=True, capture_output=True, text=True,
    ).stdout
    dates = re.findall(r"\| (\d{4}-\d{2}-\d{2}) 00:00:00\+00:00", planned)
    assert dates == [f"2014-{m:02d}-01" for m in range(1, 13)]
