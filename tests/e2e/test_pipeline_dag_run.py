"""End to end: the real DAG through Airflow's dag.test(), against the emulator over HTTP."""

import duckdb
import pytest

from trade_warehouse.dag_runner import run_dag
from trade_warehouse.emulator import DEMO_API_KEY

pytestmark = pytest.mark.dag


def snapshot_totals(path):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            table: con.execute(f"select count(*), sum(exports_usd), sum(imports_usd) from marts.{table}").fetchone()
            for table in ("trade_balance_monthly", "trade_balance_annual", "trade_balance_groups_monthly",
                          "commodity_trade_monthly", "commodity_balance_annual")
        }
    finally:
        con.close()


def test_dag_run_end_to_end_and_rerun_is_identical(airflow_db, emulator, settings, capfd):
    result = run_dag({"start_month": "2016-12", "end_month": "2017-02"})
    assert result["state"].endswith("success"), result
    states = {t["task_id"]: t["state"].rsplit(".", 1)[-1].lower() for t in result["tasks"]}
    assert states == dict.fromkeys(
        ["extract", "finish", "gx_docs", "load", "plan", "report", "transform_and_publish"], "success"
    )
    first = snapshot_totals(settings.serving_path)
    assert all(count > 0 for count, _, _ in first.values())
    assert settings.report_path.exists() and "Synthetic data" in settings.report_path.read_text()

    again = run_dag({"start_month": "2016-12", "end_month": "2017-02"})
    assert again["state"].endswith("success")
    assert snapshot_totals(settings.serving_path) == first
    output = capfd.readouterr()
    assert DEMO_API_KEY not in output.out + output.err


def test_failed_month_fails_the_run_naming_it(airflow_db, emulator, settings, capfd):
    emulator.set_faults(wrong_month="2016-01")  # every response is labelled with the wrong month
    result = run_dag({"month": "2017-03"})
    states = {t["task_id"]: t["state"] for t in result["tasks"]}
    assert result["state"].endswith("failed")
    assert states["finish"].endswith("failed") and states["load"].endswith("success")
    output = capfd.readouterr()
    assert "exports 2017-03 at extract" in output.out + output.err
    assert "field time = '2016-01', but 2017-03 was requested" in output.out + output.err


def test_bad_params_fail_at_plan(airflow_db, emulator, settings):
    result = run_dag({"start_month": "2017-05", "end_month": "2017-01"})
    states = {t["task_id"]: t["state"] for t in result["tasks"]}
    assert result["state"].endswith("failed") and states["plan"].endswith("failed")
