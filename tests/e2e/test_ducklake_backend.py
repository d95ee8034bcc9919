"""End to end on the DuckLake backend: a real PostgreSQL catalog and an S3 store on 127.0.0.1.

The real DAG through ``dag.test()`` publishes the same marts as the file backend and rolls
back by time travel; bad settings fail by name and change nothing. Two writers at once:
``test_ducklake_writers.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from lake_services import LakeServices

from trade_warehouse.core.config import load_settings
from trade_warehouse.emulator import DEMO_API_KEY
from trade_warehouse.load import lake
from trade_warehouse.orchestration.dag_runner import run_dag
from trade_warehouse.publish.serving import open_served
from trade_warehouse.publish.snapshot import rollback
from trade_warehouse.publish.stage import transform_and_publish
from trade_warehouse.sources.census import extract, load_and_validate

pytestmark = pytest.mark.dag
REPO = Path(__file__).resolve().parents[2]


def use_lake(monkeypatch: pytest.MonkeyPatch, lake_services: LakeServices, catalog: str, prefix: str) -> dict[str, str]:
    env = lake_services.env(lake_services.create_catalog(catalog), prefix)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def served_marts(con: duckdb.DuckDBPyConnection, database: str) -> list[str]:
    rows = con.execute(
        "select table_name from duckdb_tables() where database_name = ? and schema_name = 'marts' order by 1",
        [database],
    ).fetchall()
    return [name for (name,) in rows]


def lake_state(env: dict[str, str]) -> tuple[int, int]:
    """The lake's newest snapshot id and its number of loads: both change with any write."""
    with lake.connect(load_settings(env), read_only=True) as con:
        snapshot = con.execute("select max(snapshot_id) from lake.snapshots()").fetchone()[0]
        loads = con.execute("select count(*) from audit.loads").fetchone()[0]
    return snapshot, loads


def test_dag_on_the_lake_publishes_the_file_backends_marts_and_rolls_back(
    airflow_db, emulator, state_settings, lake_services, monkeypatch, capfd
):
    settings = state_settings  # the state-level flows too: every mart, row for row
    env = use_lake(monkeypatch, lake_services, "trade_e2e", "e2e")
    window = {"start_month": "2017-01", "end_month": "2017-02"}
    result = run_dag(window)
    assert result["state"].endswith("success"), result
    assert not settings.serving_path.exists() and not settings.warehouse_path.exists()  # nothing on local disk
    assert "Synthetic data" in settings.report_path.read_text()  # the report reads the lake's marts

    # the same landed files through the file backend, in the same data directory
    monkeypatch.setenv("TRADE_WAREHOUSE_BACKEND", "duckdb")
    again = run_dag({**window, "from_landing": True})
    assert again["state"].endswith("success"), again
    monkeypatch.setenv("TRADE_WAREHOUSE_BACKEND", "ducklake")

    with open_served(load_settings()) as con:
        con.execute(f"attach '{settings.serving_path}' as served_file (read_only)")
        tables = served_marts(con, "lake")
        assert tables == served_marts(con, "served_file") and "trade_balance_monthly" in tables
        assert con.execute("select count(*) from lake.marts.state_trade_monthly").fetchone()[0] > 0
        for table in tables:
            # load times differ between the two runs (vintages carry them): every other column must equal
            columns = [
                name
                for name, kind in con.execute(
                    "select column_name, data_type from duckdb_columns() "
                    "where database_name = 'lake' and schema_name = 'marts' and table_name = ?",
                    [table],
                ).fetchall()
                if not kind.startswith("TIMESTAMP")
            ]
            listed = ", ".join(columns)
            differing = con.execute(
                f"""
                select count(*) from (
                    (select {listed} from lake.marts.{table} except all select {listed} from served_file.marts.{table})
                    union all
                    (select {listed} from served_file.marts.{table} except all select {listed} from lake.marts.{table})
                )
                """
            ).fetchone()[0]
            rows = con.execute(f"select count(*) from lake.marts.{table}").fetchone()[0]
            assert differing == 0, f"{table}: {differing} rows differ between the lake and the file backend"
            assert rows == con.execute(f"select count(*) from served_file.marts.{table}").fetchone()[0]
        first_publish = con.execute("select publish_id from meta.publish").fetchone()[0]

    # a new month published in place, then rolled back by time travel to the DAG's publish
    lake_settings = load_settings()
    load_and_validate(lake_settings, extract(lake_settings, ["2017-03"]).landed, "next")
    assert transform_and_publish(lake_settings, "next").changed_months == ["2017-03-01"]
    with open_served(lake_settings) as con:
        assert con.execute("select count(*) from marts.dim_month").fetchone()[0] == 3
    rollback(lake_settings)
    with open_served(lake_settings) as con:
        assert con.execute("select publish_id, months from meta.publish").fetchone() == (first_publish, 2)
        assert con.execute("select count(*) from marts.dim_month").fetchone()[0] == 2
        assert con.execute("select count(*) from marts_build.dim_month").fetchone()[0] == 3  # dbt's build is untouched

    output = capfd.readouterr()
    secrets = (env["PGPASSWORD"], env["AWS_SECRET_ACCESS_KEY"], DEMO_API_KEY)
    for secret in secrets:
        assert secret not in output.out + output.err
    for log in settings.data_dir.rglob("*"):  # dbt's logs and target, GX results, docs, the report
        if log.is_file() and log.suffix in (".log", ".json", ".html", ".yml"):
            text = log.read_text(errors="replace")
            assert not any(secret in text for secret in secrets[:2]), log


@pytest.mark.parametrize(
    ("setting", "change", "named"),
    [
        (
            "catalog",
            {"TRADE_DUCKLAKE_CATALOG": "postgres:dbname=nowhere host=127.0.0.1 port=1 user=x"},
            "TRADE_DUCKLAKE_CATALOG",
        ),
        (
            "bucket",
            {"TRADE_DUCKLAKE_DATA_PATH": "s3://no-such-bucket/x/"},
            "the bucket 'no-such-bucket' does not exist",
        ),
        # s3rver checks the key id, not the signature: a wrong key id is what this stand-in refuses
        ("credentials", {"AWS_ACCESS_KEY_ID": "wrong-key-id"}, "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"),
    ],
)
def test_a_bad_setting_fails_by_name_and_leaves_the_lake_unchanged(lake_services, tmp_path, setting, change, named):
    good = lake_services.env(lake_services.create_catalog(f"trade_bad_{setting}"), f"bad-{setting}")
    good["TRADE_DATA_DIR"] = str(tmp_path / "data")
    lake.check(load_settings(good))  # a working lake first
    before = lake_state(good)
    objects = sorted(p.relative_to(lake_services.s3.root) for p in lake_services.s3.root.rglob("*") if p.is_file())

    with pytest.raises(lake.LakeError) as raised:
        lake.check(load_settings({**good, **change}))
    message = str(raised.value)
    assert named in message
    assert "wrong-key-id" not in message and good["PGPASSWORD"] not in message

    assert lake_state(good) == before
    assert (
        sorted(p.relative_to(lake_services.s3.root) for p in lake_services.s3.root.rglob("*") if p.is_file()) == objects
    )


def test_a_reader_before_the_first_load_is_told_there_is_no_lake_yet(lake_services, tmp_path):
    env = lake_services.env(lake_services.create_catalog("trade_empty"), "empty")
    env["TRADE_DATA_DIR"] = str(tmp_path / "data")
    with pytest.raises(lake.LakeError, match="no lake in this catalog yet: the first load creates it"):
        with open_served(load_settings(env)):
            pass


def test_the_dag_fails_at_its_first_task_naming_a_missing_bucket(
    airflow_db, emulator, settings, lake_services, monkeypatch
):
    use_lake(monkeypatch, lake_services, "trade_bad_dag", "bad-dag")
    monkeypatch.setenv("TRADE_DUCKLAKE_DATA_PATH", "s3://missing-bucket/warehouse/")
    result = run_dag({"month": "2017-01"})
    assert not result["state"].endswith("success")
    failed = {t["task_id"] for t in result["tasks"] if t["state"].rsplit(".", 1)[-1].lower() == "failed"}
    assert failed == {"plan"}, result["tasks"]
    failure = json.dumps(result["task_failures"])
    assert "the bucket 'missing-bucket' does not exist" in failure
    assert emulator.requests() == 0  # stopped before any request to the API


def test_a_lake_of_more_than_one_listing_page_still_opens(lake_services, tmp_path):
    """Opening the lake probes its storage with one request, not a listing of every file.

    Past 1,000 objects a listing takes more than one page; s3rver answers HTTP 500 there, and a
    96-month lake's report task failed on it (make bench, history, on the lake).
    """
    env = lake_services.env(lake_services.create_catalog("trade_many_files"), "many-files")
    env["TRADE_DATA_DIR"] = str(tmp_path / "data")
    settings = load_settings(env)
    lake.check(settings)
    with lake.connect(settings) as con:
        for i in range(1001):
            con.execute(f"copy (select {i} as x) to '{env['TRADE_DUCKLAKE_DATA_PATH']}main/filler/f{i:04d}.csv'")
        with pytest.raises(duckdb.Error, match="500"):  # what listing the whole prefix now meets
            con.execute("select count(*) from glob(?)", [env["TRADE_DUCKLAKE_DATA_PATH"] + "*"]).fetchall()
    lake.check(settings)  # read-write
    with lake.connect(settings, read_only=True) as con:  # what the report and BI open
        assert con.execute("select count(*) from audit.loads").fetchone() == (0,)
