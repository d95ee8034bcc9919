"""The Census client against the emulator's fault injection, over real loopback HTTP."""

import gzip
import json
import logging
from dataclasses import replace

import pytest
from duck import query

from trade_warehouse.emulator import DEMO_API_KEY
from trade_warehouse.load.landing import latest_landed
from trade_warehouse.publish.stage import transform_and_publish
from trade_warehouse.sources.census import extract, load_and_validate
from trade_warehouse.sources.census.api import (
    CHAPTERS,
    CensusAuthError,
    CensusRequestError,
    CensusResponseError,
    Request,
    TransientCensusError,
)
from trade_warehouse.sources.census.client import CensusClient
from trade_warehouse.sources.census.landing import land_response
from trade_warehouse.sources.census.split import HeavyBudget, extract_detail

pytestmark = pytest.mark.integration


def client(emulator, key=DEMO_API_KEY, **kwargs) -> CensusClient:
    waits: list[float] = []
    c = CensusClient(emulator.base_url, key, sleep=waits.append, jitter=lambda: 0.5, **kwargs)
    c.waits = waits  # type: ignore[attr-defined]
    return c


def test_transient_500_is_retried_with_backoff(emulator):
    emulator.set_faults(fail_next=2)
    with client(emulator) as c:
        response = c.fetch_totals("exports", "2017-01")
    assert response.status == 200 and response.attempts == 3 and response.row_count > 200
    assert c.waits == [1.0, 2.0]  # exponential: backoff * 2**(attempt-1) * (0.5 + jitter)


def test_429_waits_for_retry_after(emulator):
    emulator.set_faults(status_429=1)
    with client(emulator) as c:
        response = c.fetch_totals("imports", "2017-01")
    assert response.attempts == 2 and c.waits == [1.0]


def test_retries_are_bounded(emulator):
    emulator.set_faults(fail_next=10)
    with client(emulator, max_attempts=3) as c, pytest.raises(TransientCensusError, match="gave up after 3 attempts"):
        c.fetch_totals("exports", "2017-01")


def detail(emulator, flow="exports", month="2017-01", memory=None, budget=None):
    with client(emulator) as c:
        return extract_detail(c, flow, month, "HS6", memory, budget or HeavyBudget())


def test_heavy_month_is_split_into_packed_parts_that_sum_to_the_whole(emulator):
    whole = detail(emulator)
    assert whole.mode == "whole" and whole.requests == 1
    emulator.state.row_budget = 1500  # a whole month of HS6 is more than this
    split = detail(emulator)
    assert split.mode == "split" and sum(r.row_count for r in split.responses) == whole.responses[0].row_count
    assert split.failed >= 2  # the two whole-month attempts the run allows, then halves
    # packed requests repeat the commodity predicate: far fewer requests than one per chapter
    assert len(split.parts) < 20 and split.requests < 30
    assert all(r.row_count <= 1500 for r in split.responses)
    assert any(len(r.request.prefixes) > 1 for r in split.responses)


def test_a_chapter_that_is_still_too_heavy_is_split_again(emulator):
    whole = detail(emulator, "imports")
    emulator.state.row_budget = 150
    split = detail(emulator, "imports")
    prefixes = {p for r in split.responses for p in r.request.prefixes}
    assert any(len(prefix) > 2 for prefix in prefixes), prefixes
    assert sum(r.row_count for r in split.responses) == whole.responses[0].row_count
    # every chapter is covered, either whole or by finer prefixes, never both
    chapters = {u for u in split.units if len(u) == 2}
    finer = {u[:2] for u in split.units if len(u) > 2}
    assert not chapters & finer and chapters | finer == set(CHAPTERS["imports"])


def test_at_most_two_failed_whole_month_attempts_per_flow_per_run(emulator):
    emulator.state.row_budget = 1500
    budget = HeavyBudget()
    with client(emulator) as c:
        first = extract_detail(c, "exports", "2017-01", "HS6", None, budget)
        # a month of the same run that starts without memory does not try the whole month again
        second = extract_detail(c, "exports", "2017-02", "HS6", None, budget)
        other_flow = extract_detail(c, "imports", "2017-01", "HS6", None, budget)
    whole_failures = [o for e in (first, second) for o in e.outcomes if o.part == "all"]
    assert len(whole_failures) == 2 and all(o.heavy_failure for o in whole_failures)
    assert [o.part for o in second.outcomes if o.part == "all"] == []
    assert len([o for o in other_flow.outcomes if o.part == "all"]) == 2  # the budget is per flow


def test_the_next_month_starts_at_the_split_that_worked(emulator):
    emulator.state.row_budget = 1500
    first = detail(emulator, month="2017-01")
    memory = first.memory(None)
    assert memory.split and memory.fail_rows > 1500 >= memory.ok_rows
    second = detail(emulator, month="2017-02", memory=memory)
    assert [o for o in second.outcomes if o.part == "all"] == []  # no whole-month attempt at all
    assert second.requests < first.requests and second.failed <= 1


def test_a_transient_500_on_the_whole_month_then_a_good_split(emulator):
    whole = detail(emulator)
    emulator.set_faults(fail_whole_month=2)
    split = detail(emulator)
    assert split.mode == "split" and [o.part for o in split.outcomes[:2]] == ["all", "all"]
    assert sum(r.row_count for r in split.responses) == whole.responses[0].row_count
    # the learned sizes only come from data: nothing was refused for its size, so the next month
    # is packed at the size that worked
    assert split.memory(None).fail_rows == whole.responses[0].row_count


@pytest.mark.parametrize("key", [None, "not-a-valid-key"])
def test_bad_key_is_terminal_and_not_followed(emulator, key):
    with client(emulator, key=key) as c, pytest.raises(CensusAuthError, match="key_signup") as raised:
        c.fetch_totals("exports", "2017-01")
    assert emulator.requests() == 0  # rejected before any data query ran, no retries
    assert "not-a-valid-key" not in str(raised.value)


@pytest.mark.parametrize(
    ("faults", "error", "message"),
    [
        ({"html_200": True}, CensusResponseError, "expected application/json"),
        ({"truncate_json": True}, CensusResponseError, "not JSON"),
        ({"drop_column": "CTY_NAME"}, CensusResponseError, r"missing columns: \['CTY_NAME'\]"),
        ({"wrong_month": "2016-12"}, CensusResponseError, "field time = '2016-12', but 2017-01 was requested"),
    ],
)
def test_malformed_responses_are_terminal_and_named(emulator, faults, error, message):
    emulator.set_faults(**faults)
    with client(emulator) as c, pytest.raises(error, match=message):
        c.fetch_totals("exports", "2017-01")
    assert emulator.requests() == 1


def test_400_quotes_the_server(emulator):
    request = Request("exports", ("CTY_CODE", "NOPE"), (("time", "2017-01"),), "totals")
    with client(emulator) as c, pytest.raises(CensusRequestError, match="unknown variable 'NOPE'"):
        c.fetch(request, "2017-01")


def test_unreleased_month_is_no_rows_not_an_error(emulator, settings):
    summary = extract(settings, ["2017-06", "2017-07"])
    assert summary.unreleased == ["exports 2017-07", "imports 2017-07"]
    assert not summary.failures
    assert {(i.flow, i.month) for i in summary.landed} == {("exports", "2017-06"), ("imports", "2017-06")}


def test_a_retried_extract_does_not_fetch_again_what_its_earlier_try_landed(emulator, settings):
    first = extract(settings, ["2017-05"], run_id="run-a")
    fetched = emulator.requests()
    assert fetched > 0 and not first.failures
    retry = extract(settings, ["2017-05", "2017-06"], run_id="run-a")  # the task's second try, a wider window
    # 2017-05 came from the first try's landed files; only 2017-06 was requested
    assert 0 < emulator.requests() - fetched <= fetched + 2  # one month's worth, not two
    assert {(m.flow, m.month) for m in retry.landed} == {
        (f, m) for f in ("exports", "imports") for m in ("2017-05", "2017-06")
    }
    assert [c["month"] for c in retry.costs if c.get("reused")] == ["2017-05", "2017-05"]
    # what the retry passes on loads and publishes both months, the reused one included
    loaded = load_and_validate(settings, retry.landed, "run-a")
    assert len(loaded.loaded) == 4 and not loaded.failures
    assert transform_and_publish(settings, "run-a").published
    served = query(settings.serving_path, "select strftime(month, '%Y-%m') from marts.dim_month order by 1")
    assert served == [("2017-05",), ("2017-06",)]
    again = emulator.requests()
    extract(settings, ["2017-05"], run_id="run-b")  # another run fetches it again (a revision check)
    assert emulator.requests() > again


def test_landing_is_unchanged_atomic_and_keyless(emulator, settings):
    with client(emulator) as c:
        response = c.fetch_totals("imports", "2017-03")
    landed = land_response(settings.landing_dir, "HS6", "2017-03", response)
    again = land_response(settings.landing_dir, "HS6", "2017-03", response)
    assert landed.path == again.path  # same bytes, same content-addressed file
    with gzip.open(landed.path, "rb") as handle:
        assert handle.read() == response.body
    assert landed.source == "census-emulator" and landed.sha256 and landed.row_count == response.row_count
    month_dir = settings.landing_dir / "imports" / "HS6" / "2017-03"
    assert [p.name for p in month_dir.iterdir() if p.name.startswith(".")] == []
    assert len((month_dir / "manifest.jsonl").read_text().splitlines()) == 2
    assert latest_landed(settings.landing_dir, "imports", "HS6", "2017-03")[0].path == landed.path


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_api_key_never_reaches_logs_manifests_or_errors(emulator, settings, caplog):
    caplog.set_level(logging.DEBUG)
    emulator.set_faults(fail_next=1)
    summary = extract(settings, ["2017-01"])
    assert summary.landed
    emulator.set_faults(truncate_json=True)
    failed = extract(settings, ["2017-02"])
    assert failed.failures
    # httpx logs every request URL (with the key) at INFO: the client's filter must scrub it
    http_log = Collect()
    httpx_logger = logging.getLogger("httpx")
    httpx_logger.addHandler(http_log)
    httpx_logger.setLevel(logging.INFO)
    httpx_logger.disabled = False  # Airflow's logging setup may have disabled it
    emulator.set_faults()
    try:
        with client(emulator) as c:
            c.fetch_totals("exports", "2017-03")
    finally:
        httpx_logger.removeHandler(http_log)
    texts = [caplog.text, "\n".join(http_log.lines), json.dumps(summary.to_xcom()), json.dumps(failed.to_xcom())]
    texts += [p.read_text() for p in settings.landing_dir.rglob("manifest.jsonl")]
    for text in texts:
        assert DEMO_API_KEY not in text
    assert "HTTP Request: GET" in texts[1] and "key=***" in texts[1]


def test_slow_server_times_out_as_transient(emulator):
    emulator.set_faults(slow_seconds=1.0)
    with client(emulator, timeout_s=0.3, max_attempts=2) as c, pytest.raises(TransientCensusError, match="timed out"):
        c.fetch_totals("exports", "2017-01")


def test_annual_revision_lands_new_files_only_for_revised_months(emulator, settings):
    before = {m: extract(settings, [m]).landed for m in ("2012-05", "2016-04")}
    assert all(before.values())
    old = {m: {f.sha256 for f in latest_landed(settings.landing_dir, "exports", "HS6", m)} for m in before}
    emulator.state.vintage = 1  # the June release revises the last three years
    for month in before:
        extract(settings, [month])
    new = {m: {f.sha256 for f in latest_landed(settings.landing_dir, "exports", "HS6", m)} for m in before}
    assert new["2012-05"] == old["2012-05"]
    assert new["2016-04"] != old["2016-04"]


def test_key_is_registered_with_airflows_secrets_masker(settings):
    # mask_logs is the structlog processor Airflow runs on every task log line
    from airflow.sdk.log import mask_logs

    from trade_warehouse.sources.census.plan import census_credentials

    secret = "k3y-" + "z" * 36
    _, key = census_credentials(replace(settings, api_key=secret))
    assert key == secret
    logged = mask_logs(None, "info", {"event": f"GET ...&key={secret}"})
    assert secret not in str(logged) and "GET ...&key=" in logged["event"]


def test_a_month_refused_whole_after_a_whole_month_is_not_asked_whole_again(emulator):
    first = detail(emulator, month="2017-01")
    memory = first.memory(None)
    assert not memory.split and memory.ok_rows == first.responses[0].row_count
    emulator.state.row_budget = int(memory.ok_rows * 0.9)  # this month the server refuses the whole month
    second = detail(emulator, month="2017-02", memory=memory)
    assert second.mode == "split" and second.failed == 2  # only the two whole-month attempts were refused
    assert all(len(o.prefixes) < 60 for o in second.outcomes if o.prefixes)  # no part asks for every chapter
    assert all(r.row_count <= emulator.state.row_budget for r in second.responses)
