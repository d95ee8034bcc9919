"""Superset on a published warehouse: chart data equals the marts, the dashboard renders in
headless Chromium, SQL Lab cannot write, and a new publish shows up without a restart. The
U.S. map of the states' exports: its data under the dashboard's default filters (Japan; then
potatoes' heading) through the REST API, and as the browser drew it, equal the state marts.

Everything is real: Superset 6.1 (gunicorn, its own venv from bi/requirements.lock, built
once per lock hash), duckdb-engine on the serving snapshot opened read-only, Debian's
Chromium driven by Playwright, and snapshots published by the pipeline from the emulator.
The same dashboard on the DuckLake backend: test_superset_lake.py.
"""

from __future__ import annotations

import time

import pytest
import superset_checks as checks

from trade_warehouse.bi import superset as bi
from trade_warehouse.publish.stage import transform_and_publish
from trade_warehouse.sources.census import extract, load_and_validate

pytestmark = pytest.mark.bi


@pytest.fixture
def superset(state_settings, tmp_path):
    """A published warehouse (2016-01..2017-01, the state-level flows on, as a deployment has them:
    the map and the watchlist read them) and Superset started on it; stopped even on failure."""
    settings = state_settings
    started = time.monotonic()
    load_and_validate(settings, extract(settings, checks.FIRST_MONTHS).landed, "bi-run-1")
    assert transform_and_publish(settings, "bi-run-1").published
    print(f"\nwarehouse published ({len(checks.FIRST_MONTHS)} months) in {time.monotonic() - started:.0f}s")
    home = tmp_path / "superset-home"
    try:
        server = bi.start(settings.serving_path, home, port=checks.free_port())
        yield server
    finally:
        bi.stop(home)


def test_superset_dashboard_on_the_warehouse(superset, state_settings, emulator, tmp_path):
    settings = state_settings
    api = checks.Api(superset)
    first = checks.check_charts_match_marts(api, superset, settings, "2017-01")
    checks.check_state_map_filters(api, superset, settings)  # the map under the dashboard's default filters
    # the serving snapshot is opened read-only: DuckDB's own refusal
    checks.check_sql_lab_cannot_write(api, settings, "read-only mode")
    checks.publish_while_running(settings, superset, api, first, "bi-run-2")  # an atomic rename
    screenshot = checks.SCREENSHOT_DIR / "trade-warehouse-superset-dashboard.png"
    checks.check_dashboard_renders(superset, tmp_path, screenshot, settings)
