"""Superset on the DuckLake backend: the same dashboard, the lake attached read-only on every
connection (bi/lake_attach.py), its credentials only in Superset's environment.

Real services: a Debian PostgreSQL catalog and the s3rver S3 store on 127.0.0.1, Superset 6.1
in its venv (duckdb 1.5.5 and the extension wheels), Debian's Chromium.
"""

from __future__ import annotations

import time

import pytest
import superset_checks as checks

from trade_warehouse.bi import superset as bi
from trade_warehouse.core.config import load_settings
from trade_warehouse.publish.stage import transform_and_publish
from trade_warehouse.sources.census import extract, load_and_validate

pytestmark = pytest.mark.bi


def test_superset_dashboard_on_the_lake(lake_services, state_settings, emulator, tmp_path, monkeypatch):
    """The same dashboard on the DuckLake backend: the lake attached read-only on every connection,
    its credentials only in Superset's environment, a new publish seen without a restart."""
    env = lake_services.env(lake_services.create_catalog("trade_bi"), "bi")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    lake = load_settings()
    assert lake.backend == "ducklake" and lake.data_dir == state_settings.data_dir and lake.state_trade
    started = time.monotonic()
    load_and_validate(lake, extract(lake, checks.FIRST_MONTHS).landed, "bi-lake-1")
    assert transform_and_publish(lake, "bi-lake-1").published
    print(f"\nlake published ({len(checks.FIRST_MONTHS)} months) in {time.monotonic() - started:.0f}s")
    assert not lake.serving_path.exists()  # no serving file: Superset reads the lake itself

    home = tmp_path / "superset-home"
    try:
        server = bi.start(bi.serving_target(lake), home, port=checks.free_port())
        api = checks.Api(server)
        first = checks.check_charts_match_marts(api, server, lake, "2017-01")
        checks.check_state_map_filters(api, server, lake)
        database = checks.check_sql_lab_cannot_write(api, lake, "read-only mode")
        assert database["database_name"] == "Trade Warehouse (DuckLake, read-only)"
        checks.publish_while_running(lake, server, api, first, "bi-lake-2")  # a DuckLake commit, no file moved
        checks.check_dashboard_renders(
            server, tmp_path, checks.SCREENSHOT_DIR / "trade-warehouse-superset-lake.png", lake
        )
        # the catalog's password is in no file of Superset's home (metadata DB, logs)
        leaked = [p for p in home.rglob("*") if p.is_file() and env["PGPASSWORD"].encode() in p.read_bytes()]
        assert not leaked, leaked
        exported = api.client.get(f"/api/v1/database/{database['id']}/connection")
        assert exported.status_code == 200 and env["PGPASSWORD"] not in exported.text
    finally:
        bi.stop(home)
