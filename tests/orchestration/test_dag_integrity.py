"""The DAG folder imports cleanly, parses fast without network, and is wired safely."""

import socket
import time

import pytest

from trade_warehouse.airflow_env import DAG_ID, DAGS_DIR

pytestmark = pytest.mark.dag


@pytest.fixture(scope="module")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert DAG_ID in dagbag.dag_ids


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


def test_writer_tasks_share_the_single_slot_pool(dagbag):
    dag = dagbag.get_dag(DAG_ID)
    writers = {"load", "transform_and_publish"}
    for task in dag.tasks:
        if task.task_id in writers:
            assert task.pool == "duckdb_writer", task.task_id
        else:
            assert task.pool != "duckdb_writer" or task.task_id in writers
    assert dag.max_active_runs == 1
    assert all(task.doc_md for task in dag.tasks)
    assert not any(getattr(task, "depends_on_past", False) for task in dag.tasks)


def test_params_reject_bad_months(dagbag):
    import copy

    from airflow.sdk.definitions.param import ParamValidationError

    dag = dagbag.get_dag(DAG_ID)
    params = copy.deepcopy(dag.params)
    params["month"] = "2016-03"
    with pytest.raises(ParamValidationError, match="2016-13"):
        params["month"] = "2016-13"
    with pytest.raises(ParamValidationError):
        params["force"] = "yes please"
