"""End to end: the real DAGs through Airflow's dag.test(), against the emulator over HTTP."""

from datetime import UTC, datetime

import pytest
from duck import query
from webhook import webhook

from trade_warehouse.cli.summary import format_failures
from trade_warehouse.emulator import DEMO_API_KEY
from trade_warehouse.orchestration.airflow_env import NIGHTLY_DAG_ID
from trade_warehouse.orchestration.dag_runner import run_dag
from trade_warehouse.publish.stage import transform_and_publish
from trade_warehouse.sources.census import extract, load_and_validate

pytestmark = pytest.mark.dag
MARTS = (
    "trade_balance_monthly",
    "trade_balance_annual",
    "trade_balance_groups_monthly",
    "commodity_trade_monthly",
    "commodity_balance_annual",
)


def states(result: dict) -> dict[str, str]:
    return {t["task_id"]: t["state"].rsplit(".", 1)[-1].lower() for t in result["tasks"]}


def snapshot_totals(path):
    return {
        table: query(path, f"select count(*), sum(exports_usd), sum(imports_usd) from marts.{table}")[0]
        for table in MARTS
    }


def test_window_run_end_to_end_and_rerun_is_identical(airflow_db, emulator, settings, capfd):
    result = run_dag({"start_month": "2016-12", "end_month": "2017-02"})
    assert states(result) == dict.fromkeys(
        ["plan", "has_work", "extract", "load", "gx_docs", "transform_and_publish", "report", "dbt_docs", "finish"],
        "success",
    ), result
    first = snapshot_totals(settings.serving_path)
    assert all(count > 0 for count, _, _ in first.values())
    # new files in the storage format of TRADE_DUCKDB_STORAGE_VERSION (default v1.3.0), not DuckDB's v1.0
    for path in (settings.warehouse_path, settings.serving_path):
        assert query(path, "select tags['storage_version'] from duckdb_databases() where not internal") == [
            ("v1.3.0+",)
        ], path
    assert settings.report_path.exists() and "Synthetic data" in settings.report_path.read_text()

    again = run_dag({"start_month": "2016-12", "end_month": "2017-02"})
    assert again["state"].endswith("success")
    assert states(again)["transform_and_publish"] == "skipped"  # nothing changed: no dbt, no publish
    assert snapshot_totals(settings.serving_path) == first
    output = capfd.readouterr()
    assert DEMO_API_KEY not in output.out + output.err


def test_nightly_noop_new_month_and_revision(airflow_db, emulator, settings):
    seed = ["2016-05", "2016-12", "2017-01", "2017-02"]
    load_and_validate(settings, extract(settings, seed).landed, "seed")
    assert transform_and_publish(settings, "seed").docs_rebuilt
    published = query(settings.serving_path, "select publish_id from meta.publish")
    docs_built = (settings.dbt_docs_dir / "index.html").stat().st_mtime_ns

    # nothing released after 2017-02: quick, green, nothing extracted, loaded or rebuilt
    emulator.state.latest_month = "2017-02"
    requests_before = emulator.requests()
    quiet = run_dag({}, NIGHTLY_DAG_ID)
    assert quiet["state"].endswith("success")
    assert states(quiet)["has_work"] == "success"
    assert {states(quiet)[t] for t in ("extract", "load", "transform_and_publish", "report", "dbt_docs")} == {"skipped"}
    assert emulator.requests() - requests_before == 1  # one probe of the world total of 2017-03
    assert query(settings.serving_path, "select publish_id from meta.publish") == published

    # 2017-03 is released: loaded and published
    emulator.state.latest_month = "2017-03"
    night = run_dag({}, NIGHTLY_DAG_ID)
    assert night["state"].endswith("success"), night
    assert query(settings.serving_path, "select max(month) from marts.dim_month")[0][0].isoformat() == "2017-03-01"

    # the April data come with the annual revision: only the months whose data changed are reloaded
    emulator.state.latest_month = "2017-04"
    emulator.state.vintage = 1
    revision = run_dag({}, NIGHTLY_DAG_ID)
    assert revision["state"].endswith("success"), revision
    rows = query(
        settings.warehouse_path,
        "select strftime(month, '%Y-%m'), status from audit.loads where run_id = ? and flow = 'exports' order by 1",
        [revision["run_id"]],
    )
    assert dict(rows) == {
        "2016-05": "unchanged",
        "2016-12": "loaded",
        "2017-01": "loaded",
        "2017-02": "loaded",
        "2017-03": "loaded",
        "2017-04": "loaded",
    }
    assert query(settings.serving_path, "select max(month) from marts.dim_month")[0][0].isoformat() == "2017-04-01"
    # the dbt docs describe the project, not the data: built by the first publish, kept by the nights
    from trade_warehouse.transform import dbt_runner

    page = settings.dbt_docs_dir / "index.html"
    assert page.stat().st_mtime_ns == docs_built and dbt_runner.compiled_analysis(settings, "japan_deficit_and_drivers")
    (settings.dbt_docs_dir / ".project-fingerprint").write_text("a project that changed since")
    assert dbt_runner.generate_docs(settings) == (page, True) and page.stat().st_mtime_ns > docs_built


def test_backfill_is_one_run_per_month(airflow_db, emulator, settings):
    run_ids = []
    for month in (1, 2, 3):
        result = run_dag({}, logical_date=datetime(2016, month, 1, tzinfo=UTC))
        assert result["state"].endswith("success"), result
        run_ids.append(result["run_id"])
    loads = query(
        settings.warehouse_path,
        "select run_id, strftime(month, '%Y-%m') from audit.loads where flow = 'imports' order by 2",
    )
    assert loads == [(run_ids[0], "2016-01"), (run_ids[1], "2016-02"), (run_ids[2], "2016-03")]
    assert [m.isoformat() for (m,) in query(settings.serving_path, "select month from marts.dim_month order by 1")] == [
        "2016-01-01",
        "2016-02-01",
        "2016-03-01",
    ]
    # the monthly DAG's own schedule asks for a month that is not out yet: a green no-op
    future = run_dag({}, logical_date=datetime(2017, 9, 1, tzinfo=UTC))
    assert future["state"].endswith("success") and states(future)["extract"] == "skipped"


def test_failed_month_fails_the_run_others_publish_and_alert(airflow_db, emulator, settings, monkeypatch):
    emulator.set_faults(corrupt_month="2017-03")  # 2017-03 repeats a row: its grain check fails
    with webhook() as (url, alerts):
        monkeypatch.setenv("TRADE_ALERT_WEBHOOK_URL", url)
        result = run_dag({"start_month": "2017-02", "end_month": "2017-03"})
    assert result["state"].endswith("failed")
    assert states(result)["finish"] == "failed" and states(result)["transform_and_publish"] == "success"
    assert [m.isoformat() for (m,) in query(settings.serving_path, "select month from marts.dim_month")] == [
        "2017-02-01"
    ]
    [alert] = alerts
    assert alert["dag_id"] == "census_trade_monthly" and alert["task_id"] == "finish"
    assert alert["run_id"] == result["run_id"]
    assert "exports 2017-03 at validate" in alert["reason"]
    assert "duplicate_partner_hs_code" in alert["reason"]
    # the alert carries the failures as fields too: stage, transient, the failed expectations
    failed = {(f["flow"], f["month"], f["stage"], f["transient"]) for f in alert["failures"]}
    assert failed == {("exports", "2017-03", "validate", False), ("imports", "2017-03", "validate", False)}
    unique = [
        e
        for f in alert["failures"]
        for e in f["expectations"]
        if e["expectation"] == "expect_column_values_to_be_between" and e["column"] == "duplicate_partner_hs_code"
    ]
    # the duplicated keys themselves ("<partner> <hs code>"), up to three
    assert unique and 1 <= len(unique[0]["examples"]) <= 3 and len(unique[0]["examples"][0].split()) == 2
    # the run's summary (what make backfill prints) comes from the stage results, not the log:
    # the failed expectation, its columns and an example value
    summary = format_failures(result["stages"])
    assert "exports 2017-03 at validate: suite census_exports_month" in summary, summary
    line = next(x for x in summary.splitlines() if "duplicate_partner_hs_code" in x)
    assert "on duplicate_partner_hs_code: observed" in line and "; e.g. " in line, summary
    assert "imports 2017-03 at validate" in summary


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"start_month": "2017-05", "end_month": "2017-01"}, "start_month=2017-05 is after end_month=2017-01"),
        ({"month": "2017-09"}, "end month 2017-09 is not released yet"),
        ({}, "this run has no month"),
    ],
)
def test_bad_params_fail_at_plan_with_the_reason(airflow_db, emulator, settings, capfd, conf, message):
    result = run_dag(conf)
    assert result["state"].endswith("failed") and states(result)["plan"] == "failed"
    output = capfd.readouterr()
    assert message in output.out + output.err
