"""The DAG folder imports cleanly, parses fast without network, and is wired safely."""

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from trade_warehouse.orchestration.airflow_env import DAG_ID, DAGS_DIR, NIGHTLY_DAG_ID

pytestmark = pytest.mark.dag
WRITERS = {"load", "transform_and_publish", "dbt_docs"}  # the tasks that open the warehouse read-write
COMTRADE_DAG_ID = "comtrade_mirror_monthly"


@pytest.fixture(scope="module")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {DAG_ID, NIGHTLY_DAG_ID, COMTRADE_DAG_ID}


PARSE_PROBE = """
import socket, sys, json
def no_network(*args, **kwargs):
    raise AssertionError("DAG parsing must not open network connections")
socket.socket.connect = no_network
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": sorted(bag.dag_ids),
                  "modules": sorted(m for m in sys.modules if m.split(".")[0] in sys.argv[2].split(","))}))
"""
HEAVY = ("duckdb", "great_expectations", "dbt", "pandas", "numpy", "pyarrow")


def test_parsing_opens_no_connection_and_imports_nothing_heavy(airflow_db):
    """What the DAG processor pays on every parse: no network, no warehouse, no heavy imports.

    Checked by what a fresh interpreter has imported after parsing (deterministic), not by
    a timing that a busy machine could break.
    """
    probe = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, str(DAGS_DIR), ",".join(HEAVY + ("trade_warehouse",))],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env=dict(os.environ),
    )
    parsed = json.loads(probe.stdout.strip().splitlines()[-1])
    assert parsed["errors"] == {} and parsed["dags"] == sorted([DAG_ID, NIGHTLY_DAG_ID, COMTRADE_DAG_ID])
    heavy = [m for m in parsed["modules"] if m.split(".")[0] in HEAVY]
    assert heavy == [], heavy
    loaded = {m for m in parsed["modules"] if m.startswith("trade_warehouse")}
    assert loaded <= {
        "trade_warehouse",
        "trade_warehouse.orchestration",
        "trade_warehouse.orchestration.dag_factory",
        "trade_warehouse.orchestration.alerts",
        "trade_warehouse.core",
        "trade_warehouse.core.config",
        "trade_warehouse.core.duckdb_settings",  # read by config; imports duckdb only when a version is checked
        "trade_warehouse.core.errors",  # ConfigError
        "trade_warehouse.orchestration.comtrade_dag",
    }, loaded  # stages are imported inside the tasks


@pytest.mark.parametrize("dag_id", [DAG_ID, NIGHTLY_DAG_ID, COMTRADE_DAG_ID])
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
        [
            airflow,
            "backfill",
            "create",
            "--dag-id",
            DAG_ID,
            "--from-date",
            "2014-01-01",
            "--to-date",
            "2014-12-01",
            "--max-active-runs",
            "1",
            "--reprocess-behavior",
            "completed",
            "--dry-run",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    dates = re.findall(r"\| (\d{4}-\d{2}-\d{2}) 00:00:00\+00:00", planned)
    assert dates == [f"2014-{m:02d}-01" for m in range(1, 13)]
