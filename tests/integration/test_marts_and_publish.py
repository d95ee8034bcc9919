"""dbt build over loaded months, the mart contract, publish and rollback."""

import json
import logging
import os
import re
import subprocess
import sys

import duckdb
import pytest
from duck import parquet_differences, query

from trade_warehouse.core.results import PublishResult
from trade_warehouse.core.sql_rules import country_type_sql
from trade_warehouse.publish.contract import PublishError, check_contract, published_models
from trade_warehouse.publish.stage import transform_and_publish
from trade_warehouse.sources.census import extract, load_and_validate

# the marts BI tools rely on (README "Mart contract"); their columns and types are in the models' YAML
CONTRACT_MARTS = {
    "trade_balance_monthly",
    "trade_balance_annual",
    "trade_balance_groups_monthly",
    "commodity_trade_monthly",
    "commodity_balance_annual",
}

pytestmark = pytest.mark.integration


def parquet_matches_serving(settings) -> bool:
    """The set `current` points at is the serving snapshot's publish, with the same rows in every table."""
    import json

    current = (settings.parquet_dir / "current").resolve()
    manifest = json.loads((current / "_publish.json").read_text())
    publish_id = query(settings.serving_path, "select publish_id from meta.publish")[0][0]
    if manifest["publish_id"] != publish_id or not current.name.endswith(publish_id):
        return False
    tables = [m.name for m in published_models(settings) if m.contract]
    return set(parquet_differences(settings.serving_path, current, tables).values()) == {0}


def test_build_publish_contract_and_rollback(emulator, settings, caplog, capfd):
    months = ["2016-01", "2016-02", "2016-03", "2017-01", "2017-02", "2017-03"]
    load_and_validate(settings, extract(settings, months).landed, "run-1")
    with caplog.at_level(logging.INFO):
        first = transform_and_publish(settings, "run-1")
    contract = [m for m in published_models(settings) if m.contract]
    # progress an operator can watch: dbt's nodes done and the marts copied, with the count
    # (stdlib logging, or the console once Airflow has set up structlog in this worker)
    captured = capfd.readouterr()
    logged = "\n".join([caplog.text, captured.out, captured.err])
    assert re.search(r"dbt build: (\d+)/\1 nodes done", logged), logged[-2000:]
    published_count = len(published_models(settings))
    assert f"publish: {published_count}/{published_count} marts copied" in logged, logged[-2000:]
    assert CONTRACT_MARTS <= {m.name for m in contract}
    assert first.published and set(first.row_counts) == {m.name for m in contract}
    serving = settings.serving_path

    for model in contract:  # the served tables have exactly the columns and types the YAML declares
        found = dict(
            query(
                serving,
                "select column_name, lower(data_type) from duckdb_columns() "
                "where schema_name = 'marts' and table_name = ?",
                [model.name],
            )
        )
        assert found == model.columns, model.name
        assert query(serving, f"select count(*) from marts.{model.name}")[0][0] > 0 or model.may_be_empty
    # a served table that drifts from its contract is refused, naming the column
    drifted = duckdb.connect()
    drifted.execute(f"attach '{serving}' as served (read_only)")
    drifted.execute("attach ':memory:' as candidate")
    drifted.execute("create schema candidate.marts")
    for model in contract:
        drifted.execute(f"create table candidate.marts.{model.name} as select * from served.marts.{model.name}")
    drifted.execute("alter table candidate.marts.trade_balance_annual alter exports_usd type double")
    with pytest.raises(PublishError, match="exports_usd is double, the contract says bigint"):
        check_contract(drifted, "candidate", contract)
    drifted.close()

    types = dict(
        query(
            serving,
            "select column_name, data_type from duckdb_columns() "
            "where schema_name = 'marts' and table_name = 'trade_balance_monthly'",
        )
    )
    assert types["month"] == "DATE" and types["exports_usd"] == "BIGINT" and types["balance_12m_usd"] == "BIGINT"

    # partners sum exactly to the emulator's world total, month by month
    mismatches = query(
        serving,
        """
        select w.month from marts.trade_balance_groups_monthly w
        join (select month, sum(exports_usd) e, sum(imports_usd) i from marts.trade_balance_monthly group by 1) p
          using (month)
        where w.group_code = '-' and (w.exports_usd <> p.e or w.imports_usd <> p.i)""",
    )
    assert mismatches == []
    assert (
        query(
            serving,
            f"select count(*) from marts.trade_balance_monthly where {country_type_sql('partner_code')} <> 'partner'",
        )[0][0]
        == 0
    )
    # YoY only where the month a year earlier is loaded; 12-month balance never (only 6 months)
    assert (
        query(
            serving,
            "select count(*) from marts.trade_balance_monthly "
            "where year(month) = 2016 and balance_yoy_change_usd is not null",
        )[0][0]
        == 0
    )
    assert (
        query(
            serving,
            "select count(*) from marts.trade_balance_monthly "
            "where year(month) = 2017 and balance_yoy_change_usd is not null",
        )[0][0]
        > 0
    )
    assert (
        query(serving, "select count(*) from marts.trade_balance_monthly where balance_12m_usd is not null")[0][0] == 0
    )
    # cars drive the Japan deficit
    top = query(
        serving,
        "select hs_code from marts.commodity_balance_annual "
        "where partner_code = '5880' and year = 2017 and rank_in_partner = 1",
    )
    assert top == [("8703",)]

    # nothing changed: no dbt build, no publish
    assert transform_and_publish(settings, "run-2") == PublishResult(published=False, reason="unchanged")

    # a new month publishes a new snapshot; rollback restores the previous one
    load_and_validate(settings, extract(settings, ["2017-04"]).landed, "run-3")
    assert transform_and_publish(settings, "run-3").published
    assert query(serving, "select max(month) from marts.dim_month")[0][0].isoformat() == "2017-04-01"
    # the Parquet sets: one directory per publish, `current` pointing at the one in service
    current = settings.parquet_dir / "current"
    assert current.is_symlink() and not os.path.isabs(os.readlink(current))
    assert len(list((settings.parquet_dir / "versions").iterdir())) == 2
    assert parquet_matches_serving(settings)
    # make rollback runs this command
    subprocess.run(
        [sys.executable, "-m", "trade_warehouse", "rollback"],
        check=True,
        env=dict(os.environ, TRADE_DATA_DIR=str(settings.data_dir)),
    )
    assert query(serving, "select max(month) from marts.dim_month")[0][0].isoformat() == "2017-03-01"
    # rollback moved the Parquet pointer back too; the newer set stays for a roll forward
    assert parquet_matches_serving(settings)
    parquet = current / "trade_balance_monthly" / "data.parquet"
    assert duckdb.sql(f"select max(month) from '{parquet}'").fetchone()[0].isoformat() == "2017-03-01"
    assert len(list((settings.parquet_dir / "versions").iterdir())) == 2
    publishes = query(settings.warehouse_path, "select count(*) from audit.publishes where status = 'published'")
    assert publishes == [(2,)]


def unit_tests_run(settings) -> int:
    results = json.loads((settings.data_dir / "dbt" / "target" / "run_results.json").read_text())["results"]
    assert all(r["status"] in ("success", "pass") for r in results)
    return sum(r["unique_id"].startswith("unit_test.") for r in results)


def test_incremental_fact_equals_full_refresh_after_a_revision(emulator, settings, tmp_path, monkeypatch):
    from trade_warehouse.transform import dbt_runner

    monkeypatch.setenv("TRADE_DBT_PARSE_CACHE", str(tmp_path / "machine-cache"))  # no unit test passed yet
    months = ["2016-04", "2016-05"]
    load_and_validate(settings, extract(settings, months).landed, "run-1")
    dbt_runner.build(settings)
    assert unit_tests_run(settings) >= 19  # every unit test of the project, once per project on a machine
    emulator.state.vintage = 1  # revised values for 2016 (inside the three-year revision window)
    load_and_validate(settings, extract(settings, ["2016-04"]).landed, "run-2")
    output = dbt_runner.build(settings)
    assert "fct_trade__partner_hs6_monthly" in output
    assert unit_tests_run(settings) == 0  # passed with this project, these settings and releases
    monkeypatch.setenv("TRADE_MIRROR_FOB_FACTOR", "1.07")  # a setting the models read: they run again
    dbt_runner.build(settings)
    assert unit_tests_run(settings) >= 19
    monkeypatch.delenv("TRADE_MIRROR_FOB_FACTOR")
    fact = (
        "select month, count(*), sum(exports_usd), sum(imports_usd) from marts.fct_trade__partner_hs6_monthly "
        "group by 1 order by 1"
    )
    incremental = query(settings.warehouse_path, fact)
    dbt_runner.run_dbt(settings, "build", "--full-refresh", "--select", "fct_trade__partner_hs6_monthly")
    assert query(settings.warehouse_path, fact) == incremental
    raw = query(
        settings.warehouse_path,
        "select month, sum(all_value_usd) from raw.census_exports_hs where partner_code <> '-' group by 1 order by 1",
    )
    assert [(m, e) for m, _, e, _ in incremental] == raw
    # the uniqueness test (hash first, then the key itself) names a duplicated key, and only it
    with duckdb.connect(str(settings.warehouse_path)) as con:
        key = con.execute(
            "select month, partner_code, hs_level, hs_code from marts.commodity_trade_monthly "
            "where hs_level = 6 order by all limit 1"
        ).fetchone()
        con.execute(
            "insert into marts.commodity_trade_monthly select * from marts.commodity_trade_monthly "
            "where month = ? and partner_code = ? and hs_level = ? and hs_code = ?",
            list(key),
        )
    uniqueness = "test_name:unique_combination_of_columns"
    with pytest.raises(dbt_runner.TransformError, match="unique_combination_of_columns_commodity_trade_monthly"):
        dbt_runner.run_dbt(settings, "test", "--select", f"commodity_trade_monthly,{uniqueness}")
    failures = query(
        settings.warehouse_path,
        "select * from (" + compiled_test(settings, "unique_combination_of_columns_commodity_trade_monthly") + ")",
    )
    assert failures == [(*key, 2)]


def compiled_test(settings, prefix: str) -> str:
    """The SQL dbt compiled for the data test of the last run whose name starts with ``prefix``."""
    results = json.loads((settings.data_dir / "dbt" / "target" / "run_results.json").read_text())["results"]
    (sql,) = [r["compiled_code"] for r in results if r["unique_id"].startswith(f"test.trade_warehouse.{prefix}")]
    return sql
