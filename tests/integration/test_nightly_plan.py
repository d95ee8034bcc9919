"""The nightly planner on a fresh install: it asks the API, never the warehouse."""

from datetime import date

import pytest

from trade_warehouse.emulator import DEMO_API_KEY
from trade_warehouse.sources.census.client import CensusClient
from trade_warehouse.sources.census.release import plan_nightly

pytestmark = pytest.mark.integration
TODAY = date(2026, 11, 22)


def test_a_fresh_install_loads_the_newest_released_month(emulator, settings):
    emulator.state.latest_month = "2026-09"  # 2026-10 has ended but is not released yet
    with CensusClient(emulator.base_url, DEMO_API_KEY) as client:
        plan = plan_nightly(settings, client, today=TODAY)
    assert plan["months"] == ["2026-09"] and plan["new"] == ["2026-09"] and plan["revision"] == []
    assert plan["reason"].startswith("fresh install: loading the newest released month 2026-09")
    assert emulator.requests() == 2  # 2026-10 answered 204, 2026-09 answered with data


def test_a_fresh_install_with_nothing_released_recently_loads_nothing(emulator, settings):
    emulator.state.latest_month = "2017-06"
    with CensusClient(emulator.base_url, DEMO_API_KEY) as client:
        plan = plan_nightly(settings, client, today=TODAY)
    assert plan["months"] == [] and "no released month found in the last six" in plan["reason"]
    assert emulator.requests() == 6
