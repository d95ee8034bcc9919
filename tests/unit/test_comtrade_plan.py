"""Which years a Comtrade run asks for: release-aware, from the landing zones only."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from trade_warehouse.core.config import ConfigError, Settings, load_comtrade_settings
from trade_warehouse.core.results import FlowMonth
from trade_warehouse.load.landing import EXTRACTIONS, append_jsonl
from trade_warehouse.sources import comtrade
from trade_warehouse.sources.census.release import landed_months
from trade_warehouse.sources.comtrade.landing import landed_files, landed_fingerprint, mark_loaded, year_dir
from trade_warehouse.sources.comtrade.years import year_periods

TODAY = date(2018, 3, 15)


def settings_at(tmp_path: Path) -> Settings:
    return Settings(base_url="http://127.0.0.1:1", api_key=None, data_dir=tmp_path, hs_level="HS6", pacing_s=0.0)


def land_census(settings: Settings, *months: str) -> None:
    for month in months:
        for flow in ("exports", "imports"):
            append_jsonl(settings.landing_dir / flow / "HS6" / month / "manifest.jsonl", {"month": month})


def plan(settings: Settings, comtrade_settings, params: dict | None = None) -> dict:
    """The Comtrade plan as the DAG's plan task makes it: with the Census months landed."""
    return comtrade.plan(settings, comtrade_settings, params, today=TODAY, census_months=landed_months(settings))


def record(settings: Settings, year: int, complete: bool, reporters=("392", "410", "156")) -> None:
    append_jsonl(
        year_dir(settings, year) / EXTRACTIONS,
        {"extraction_id": f"x-{year}-{complete}", "year": year, "complete": complete, "reporters": list(reporters)},
    )


KEY = {"COMTRADE_API_KEY": "test-key"}


def test_only_years_with_census_data_that_are_not_complete(tmp_path):
    settings, cs = settings_at(tmp_path), load_comtrade_settings(KEY)
    land_census(settings, "2016-05", "2017-01", "2017-12", "2018-01")
    record(settings, 2016, complete=True)
    record(settings, 2017, complete=False)
    # 2016 is complete in the landing zone but no load recorded it: loaded from the landing zone, not asked again
    planned = plan(settings, cs)
    assert planned["years"] == [2016, 2017, 2018] and planned["load_only"] == [2016]
    assert "landed but not loaded, loaded from the landing zone: 2016" in planned["reason"]
    extracted = comtrade.extract(settings, cs, [2016], load_only=[2016])  # the API (port 1) is never called
    assert extracted.landed == [FlowMonth("comtrade", "2016")] and extracted.from_landing
    assert not extracted.failures and extracted.requests == 0
    mark_loaded(settings, 2016, landed_fingerprint(landed_files(settings, 2016)), "l-16")
    planned = plan(settings, cs)
    assert planned["years"] == [2017, 2018] and "complete, not asked again: 2016" in planned["reason"]
    # a new reporter makes a complete year incomplete; force asks again for every year
    assert plan(settings, load_comtrade_settings({**KEY, "TRADE_COMTRADE_REPORTERS": "392,344"}))["years"] == [
        2016,
        2017,
        2018,
    ]
    assert plan(settings, cs, {"force": True})["years"] == [2016, 2017, 2018]
    # without a key the scheduled run has nothing to do (green), and says why
    off = plan(settings, load_comtrade_settings({}))
    assert off["years"] == [] and "COMTRADE_API_KEY" in off["reason"]


def test_nothing_to_do_without_census_data_and_params_are_checked(tmp_path):
    settings, cs = settings_at(tmp_path), load_comtrade_settings(KEY)
    assert plan(settings, cs)["years"] == []
    assert plan(settings, cs, {"start_year": 2015, "end_year": 2016})["years"] == [2015, 2016]
    with pytest.raises(ValueError, match="between 2010 and 2018"):
        plan(settings, cs, {"year": 2019})
    assert year_periods(2018, TODAY) == ("201801", "201802")  # ended months only


def test_comtrade_settings_are_checked():
    assert load_comtrade_settings({}).reporters == ("392", "410", "156")
    assert load_comtrade_settings({"TRADE_COMTRADE_REPORTERS": " 36, 392"}).reporters == ("036", "392")
    for bad in (
        {"TRADE_COMTRADE_REPORTERS": "JPN"},
        {"TRADE_COMTRADE_REPORTERS": "392,842"},
        {"TRADE_MIRROR_FOB_FACTOR": "0.9"},
        {"COMTRADE_API_BASE_URL": "comtradeapi.un.org"},
    ):
        with pytest.raises(ConfigError):
            load_comtrade_settings(bad)
