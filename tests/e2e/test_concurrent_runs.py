"""A backfill and the nightly run at the same time, in two processes, share one warehouse.

Each process has its own Airflow metadata DB, so Airflow's writer pool cannot order
them: the warehouse writer lock must. The test holds that lock until both runs have
queued on it (so they provably overlap); then both must finish green and the warehouse
must hold every month once.
"""

import json
import os
import shutil
import subprocess
import sys
import time

import duckdb
import pytest

from trade_warehouse.core.months import month_range
from trade_warehouse.emulator import DEMO_API_KEY
from trade_warehouse.load.warehouse import writer_lock
from trade_warehouse.orchestration.airflow_env import NIGHTLY_DAG_ID
from trade_warehouse.publish.stage import transform_and_publish
from trade_warehouse.sources.census import extract, load_and_validate

pytestmark = pytest.mark.dag


def test_backfill_and_nightly_run_concurrently(airflow_db, emulator, settings, tmp_path):
    load_and_validate(settings, extract(settings, ["2016-12", "2017-01"]).landed, "seed")
    transform_and_publish(settings, "seed")
    emulator.state.latest_month = "2017-02"

    processes = {}
    # the test holds the writer lock until both runs are queued on it: they provably overlap
    holding = writer_lock(settings.warehouse_path)
    holding.__enter__()
    for name, conf, dag_id in (
        ("nightly", {}, NIGHTLY_DAG_ID),
        ("backfill", {"start_month": "2016-06", "end_month": "2016-09"}, "census_trade_monthly"),
    ):
        home = tmp_path / f"airflow-{name}"
        home.mkdir()
        shutil.copy(airflow_db / "airflow.db", home / "airflow.db")
        env = dict(
            os.environ,
            AIRFLOW_HOME=str(home),
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
            TRADE_DATA_DIR=str(settings.data_dir),
            CENSUS_API_BASE_URL=emulator.base_url,
            CENSUS_API_KEY=DEMO_API_KEY,
            CENSUS_API_PACING_S="0",
        )
        log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed below
        processes[name] = (
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "trade_warehouse.orchestration.dag_runner",
                    json.dumps(conf),
                    str(tmp_path / f"{name}.json"),
                    dag_id,
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            ),
            log,
        )

    try:
        deadline = time.monotonic() + 300
        while not all(
            "waiting for the warehouse writer lock" in (tmp_path / f"{name}.log").read_text() for name in processes
        ):
            assert time.monotonic() < deadline, "both runs should have queued on the writer lock"
            assert all(process.poll() is None for process, _ in processes.values())
            time.sleep(0.5)
    finally:
        holding.__exit__(None, None, None)
    for name, (process, log) in processes.items():
        assert process.wait(timeout=600) == 0, (tmp_path / f"{name}.log").read_text()[-3000:]
        log.close()
        assert json.loads((tmp_path / f"{name}.json").read_text())["state"].endswith("success")

    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    versions = con.execute(
        "select strftime(month, '%Y-%m'), count(distinct load_id) from raw.census_exports_hs group by 1 order by 1"
    ).fetchall()
    con.close()
    expected = month_range("2016-06", "2016-09") + ["2016-12", "2017-01", "2017-02"]
    assert versions == [(m, 1) for m in expected]
    con = duckdb.connect(str(settings.serving_path), read_only=True)
    published = [m.strftime("%Y-%m") for (m,) in con.execute("select month from marts.dim_month order by 1").fetchall()]
    con.close()
    assert published == expected
