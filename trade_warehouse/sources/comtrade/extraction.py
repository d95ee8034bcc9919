"""Fetch and land Comtrade years: one call per year unless the record cap forces a split.

Each year's answer is landed unchanged with its manifest rows, then one extraction record
says what was asked and whether the year is complete. Failures are collected per year and
returned in the typed :class:`~trade_warehouse.core.results.ExtractResult`, like the Census
months'; a rejected key stops the run's other requests.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, date, datetime

from trade_warehouse.core.config import ComtradeSettings, Settings
from trade_warehouse.core.results import ExtractResult, FlowMonth
from trade_warehouse.sources.comtrade.client import ComtradeAuthError, ComtradeClient, ComtradeError, ComtradeRequest
from trade_warehouse.sources.comtrade.landing import land, record_extraction
from trade_warehouse.sources.comtrade.planner import credentials
from trade_warehouse.sources.comtrade.years import FLOW, period, year_failure, year_periods

log = logging.getLogger(__name__)

FLOWS = ("M", "X")  # Comtrade's flow codes: imports and exports, as the partner reports them
NOT_REQUESTED = "not requested: the API rejected the key (see the first failure)"


def extract(
    settings: Settings,
    comtrade: ComtradeSettings,
    years: list[int],
    run_id: str | None = None,
    today: date | None = None,
    load_only: list[int] | None = None,
) -> ExtractResult:
    """Fetch and land each year; years in ``load_only`` are already complete in the landing
    zone: passed on to the load, not fetched. A year no partner has reported yet is
    ``unreleased`` (landed, not passed on); ``costs`` holds one extraction record per year."""
    base_url, api_key = credentials(comtrade)
    load_only = [y for y in (load_only or []) if y in years]
    to_fetch = [y for y in years if y not in load_only]
    result = ExtractResult(
        landed=[FlowMonth(FLOW, period(y)) for y in load_only], from_landing=bool(load_only) and not to_fetch
    )
    started = time.monotonic()
    with ComtradeClient(
        base_url, api_key, timeout_s=comtrade.timeout_s, pacing_s=comtrade.pacing_s, max_records=comtrade.max_records
    ) as client:
        for year in to_fetch:
            try:
                cost = fetch_year(settings, comtrade, client, year, run_id, today)
            except ComtradeError as error:
                result.failures.append(year_failure(year, "extract", str(error), transient=error.transient))
                if isinstance(error, ComtradeAuthError):
                    result.failures += [
                        year_failure(y, "extract", NOT_REQUESTED, consequence=True) for y in to_fetch if y > year
                    ]
                    break
                continue
            if cost["rows"]:
                result.landed.append(FlowMonth(FLOW, period(year)))
            else:
                result.unreleased.append(period(year))
            result.costs.append(cost)
    result.requests = sum(c["requests"] for c in result.costs)
    result.bytes = sum(c["bytes"] for c in result.costs)
    result.seconds = round(time.monotonic() - started, 2)
    return result


def fetch_year(
    settings: Settings,
    comtrade: ComtradeSettings,
    client: ComtradeClient,
    year: int,
    run_id: str | None,
    today: date | None,
) -> dict:
    """One year: fetched (split if truncated), landed, recorded; returns what it cost."""
    started = time.monotonic()
    periods = year_periods(year, today)
    responses = client.fetch_complete(ComtradeRequest(reporters=comtrade.reporters, flows=FLOWS, periods=periods))
    extraction_id = str(uuid.uuid4())
    files = [land(settings, year, response, extraction_id) for response in responses]
    rows = sum(r.count for r in responses)
    expected = len(comtrade.reporters) * len(FLOWS) * 12
    record = {
        "extraction_id": extraction_id,
        "run_id": run_id,
        "year": year,
        "extracted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "reporters": list(comtrade.reporters),
        "periods": list(periods),
        "requests": len(responses),
        "attempts": sum(r.attempts for r in responses),
        "rows": rows,
        "expected_rows": expected,
        "complete": rows == expected,
        "files": [f["path"] for f in files],
        "seconds": round(time.monotonic() - started, 2),
    }
    record_extraction(settings, year, record)
    log.info(
        "comtrade %d: %d requests, %d of %d rows (%s)",
        year,
        len(responses),
        rows,
        expected,
        "complete" if record["complete"] else "partners have not reported every month yet",
    )
    keys = ("year", "requests", "rows", "expected_rows", "complete", "seconds")
    return {**{k: record[k] for k in keys}, "bytes": sum(f["bytes"] for f in files)}
