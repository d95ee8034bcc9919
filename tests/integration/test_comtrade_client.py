"""The UN Comtrade client against the emulator's Comtrade route, over real loopback HTTP."""

from __future__ import annotations

import json

import pytest

from trade_warehouse.core.http import MAX_RETRY_AFTER_S
from trade_warehouse.emulator import DEMO_API_KEY
from trade_warehouse.emulator import comtrade as route
from trade_warehouse.sources.comtrade.client import (
    ComtradeAuthError,
    ComtradeClient,
    ComtradeRequest,
    ComtradeTruncatedError,
    TransientComtradeError,
)

REPORTERS = ("392", "410", "156")
Q1 = ("201701", "201702", "201703")


def comtrade_url(emulator) -> str:
    return emulator.base_url.replace("/data/timeseries/intltrade", "/data/v1")


@pytest.fixture
def comtrade(emulator):
    """The emulator's Comtrade route state (released through 2017-04) and its base URL."""
    return route.state_for(emulator.state), comtrade_url(emulator)


def client(base_url: str, key: str | None = DEMO_API_KEY, sleeps: list | None = None, **options) -> ComtradeClient:
    recorded = sleeps if sleeps is not None else []
    return ComtradeClient(base_url, key, sleep=recorded.append, jitter=lambda: 0.5, **options)


def test_key_in_header_returns_rows_of_the_request(comtrade):
    state, base_url = comtrade
    request = ComtradeRequest(REPORTERS, ("M", "X"), Q1)
    with client(base_url) as api:
        response = api.fetch(request)
    assert response.count == len(REPORTERS) * 2 * len(Q1) and response.periods_with_rows == list(Q1)
    assert response.source == "comtrade-emulator" and response.attempts == 1
    rows = json.loads(response.body)["data"]
    assert {(r["reporterCode"], r["flowCode"]) for r in rows} == {(int(c), f) for c in REPORTERS for f in "MX"}
    assert all(r["partnerCode"] == 842 and r["cmdCode"] == "TOTAL" for r in rows)
    assert DEMO_API_KEY not in request.describe()  # the key never travels in (or is logged with) the URL


@pytest.mark.parametrize("key, problem", [(None, "missing"), ("not-a-real-key-123", "invalid")])
def test_missing_or_wrong_key_fails_at_once_without_the_key_in_the_message(comtrade, key, problem):
    state, base_url = comtrade
    sleeps: list[float] = []
    with client(base_url, key, sleeps) as api, pytest.raises(ComtradeAuthError) as raised:
        api.fetch(ComtradeRequest(("392",), ("M",), ("201701",)))
    assert not raised.value.transient and sleeps == []  # terminal: not retried
    assert problem in str(raised.value) and "comtradedeveloper.un.org" in str(raised.value)
    assert "HTTP 401" in str(raised.value)
    if key:
        assert key not in str(raised.value)


def test_429_is_retried_after_the_servers_hint_then_succeeds(comtrade):
    state, base_url = comtrade
    state.status_429, state.retry_after_s = 2, 7
    sleeps: list[float] = []
    with client(base_url, sleeps=sleeps) as api:
        response = api.fetch(ComtradeRequest(("392",), ("M", "X"), ("201701",)))
    assert sleeps == [7.0, 7.0] and response.attempts == 3 and response.count == 2


def test_429_hint_is_capped_and_retries_end(comtrade):
    state, base_url = comtrade
    state.status_429, state.retry_after_s = 10, 86_400
    sleeps: list[float] = []
    with client(base_url, sleeps=sleeps, max_attempts=3) as api, pytest.raises(TransientComtradeError) as raised:
        api.fetch(ComtradeRequest(("392",), ("M",), ("201701",)))
    assert sleeps == [MAX_RETRY_AFTER_S, MAX_RETRY_AFTER_S] and "gave up after 3 attempts" in str(raised.value)


def test_record_cap_truncation_is_detected_and_split(comtrade):
    state, base_url = comtrade
    state.max_records = 5  # the server cuts every answer at 5 records, silently
    request = ComtradeRequest(REPORTERS, ("M", "X"), Q1)
    with client(base_url, max_records=5) as api:
        with pytest.raises(ComtradeTruncatedError, match="cap of 5"):
            api.fetch(request)  # exactly the cap: never accepted as complete
        parts = api.fetch_complete(request)
    rows = [(r["reporterCode"], r["flowCode"], r["period"]) for p in parts for r in json.loads(p.body)["data"]]
    assert len(rows) == len(set(rows)) == len(REPORTERS) * 2 * len(Q1)
    assert all(p.count < 5 for p in parts)


def test_truncation_that_cannot_be_split_is_a_clear_error(comtrade):
    state, base_url = comtrade
    state.max_records = 1
    with client(base_url, max_records=1) as api, pytest.raises(ComtradeTruncatedError, match="cannot be split"):
        api.fetch_complete(ComtradeRequest(("392",), ("M",), ("201701",)))


def test_unreleased_periods_are_empty_not_errors(comtrade):
    state, base_url = comtrade
    state.latest_month = "2017-02"
    with client(base_url) as api:
        partial = api.fetch(ComtradeRequest(("392",), ("M", "X"), Q1))
        empty = api.fetch(ComtradeRequest(("392",), ("M", "X"), ("201705", "201706")))
    assert partial.periods_with_rows == ["201701", "201702"] and partial.count == 4
    assert empty.count == 0 and empty.periods_with_rows == [] and json.loads(empty.body)["data"] == []


def test_more_than_twelve_periods_are_refused_before_any_call():
    with pytest.raises(ValueError, match="1 to 12 periods"):
        ComtradeRequest(("392",), ("M",), tuple(f"2016{m:02d}" for m in range(1, 13)) + ("201701",))
