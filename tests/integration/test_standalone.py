"""``make up``'s Airflow reads both sources from a local emulator, never a live API.

Running the real ``make up`` here would take minutes; this starts the emulator the way it
does and checks the environment it gives Airflow standalone, over real loopback HTTP.
"""

from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from trade_warehouse.orchestration.standalone import alive, standalone_environment, start_emulator, stop

pytestmark = pytest.mark.integration


def test_make_up_points_both_sources_at_a_local_emulator(tmp_path: Path) -> None:
    base_url = start_emulator(tmp_path, "session-key", scale="small")
    try:
        env = standalone_environment(base_url, "session-key", {"CENSUS_API_BASE_URL": "https://api.census.gov/x"})
        for source in ("CENSUS", "COMTRADE"):
            assert urlsplit(env[f"{source}_API_BASE_URL"]).hostname == "127.0.0.1", source
            assert env[f"{source}_API_KEY"] == "session-key"
        census = httpx.get(
            f"{env['CENSUS_API_BASE_URL']}/exports/hs",
            params={"get": "CTY_CODE,ALL_VAL_MO", "time": "2017-01", "key": env["CENSUS_API_KEY"]},
        )
        assert census.status_code == 200 and census.json()[0] == ["CTY_CODE", "ALL_VAL_MO", "time"]
        comtrade = httpx.get(
            f"{env['COMTRADE_API_BASE_URL']}/get/C/M/HS",
            params={"reporterCode": "392", "period": "201701", "partnerCode": "842", "flowCode": "M"},
            headers={"Ocp-Apim-Subscription-Key": env["COMTRADE_API_KEY"]},
        )
        assert comtrade.status_code == 200 and comtrade.json()["count"] > 0
        assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
        assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "True"  # up() unpauses once the API answers
    finally:
        assert stop(tmp_path / "emulator.pid", grace_s=5)
    assert alive(tmp_path / "emulator.pid") is None and not stop(tmp_path / "emulator.pid")


def test_an_explicit_census_url_is_passed_through_untouched() -> None:
    """Like ``make backfill``: a user who set the live API gets it, and no emulator overrides it."""
    mine = {"CENSUS_API_BASE_URL": "https://api.census.gov/data/timeseries/intltrade", "CENSUS_API_KEY": "mine"}
    env = standalone_environment(None, "unused", mine)
    assert (env["CENSUS_API_BASE_URL"], env["CENSUS_API_KEY"]) == (mine["CENSUS_API_BASE_URL"], "mine")
    assert "COMTRADE_API_BASE_URL" not in env
