"""Which years a Comtrade run fetches: release-aware, from the landing zones only.

Partners report on their own calendar, months late and one by one. A year is asked for
again only while its latest extraction lacks some reporter x flow x month; a complete year
costs nothing on later nights. Only years with Census data landed are asked for: the
mirror needs the U.S. side. Which Census months are landed is the caller's to say
(``census_months``): one source never reads the other's code or files.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

from trade_warehouse.core.config import ComtradeSettings, Settings
from trade_warehouse.core.credentials import api_credentials
from trade_warehouse.sources.comtrade.landing import is_complete, is_loaded, latest_extraction
from trade_warehouse.sources.comtrade.years import FIRST_YEAR, year_periods

NO_KEY = (
    "no UN Comtrade key (COMTRADE_API_KEY or the connection comtrade_api): "
    "mirror statistics are off; see the README to get one"
)


def credentials(comtrade: ComtradeSettings) -> tuple[str, str | None]:
    """Base URL and key: the Airflow connection ``comtrade_api`` wins over the environment."""
    return api_credentials("comtrade_api", comtrade.base_url, comtrade.api_key)


def plan(
    settings: Settings,
    comtrade: ComtradeSettings,
    params: dict | None = None,
    today: date | None = None,
    *,
    census_months: Iterable[str],
) -> dict:
    """The years a run fetches: ``year`` or ``start_year``..``end_year`` from params, else
    every year of ``census_months`` (the Census months landed, both flows, ``YYYY-MM``) whose
    Comtrade extraction is not complete yet (none without a key: requested years are still
    fetched, and fail at extract saying how to get one).

    Returns ``{"years": [...], "load_only": [...], "reason": "..."}``: ``load_only`` years are
    complete in the landing zone but not loaded, so extract passes them on without a call.
    """
    params = params or {}
    today = today or datetime.now(UTC).date()
    if params.get("year") or params.get("start_year") or params.get("end_year"):
        return {"years": requested_years(params, today), "reason": "requested by params"}
    if not (comtrade.api_key or credentials(comtrade)[1]):  # the Airflow connection only when the env has none
        # an optional source: a scheduled run without a key ends green instead of alerting every day
        return {"years": [], "reason": NO_KEY}
    census_years = sorted({int(month[:4]) for month in census_months})
    candidates = [y for y in census_years if year_periods(y, today)]
    force = bool(params.get("force"))
    fetch = [y for y in candidates if force or not is_complete(latest_extraction(settings, y), comtrade.reporters)]
    complete = sorted(set(candidates) - set(fetch))
    # complete in the landing zone but not (or not that content) in the warehouse: a failed load
    load_only = [y for y in complete if not is_loaded(settings, y)]
    return {"years": sorted(fetch + load_only), "load_only": load_only, "reason": _reason(fetch, complete, load_only)}


def requested_years(params: dict, today: date) -> list[int]:
    """The years the params name, checked (a bad range fails the run at once)."""
    start = int(params.get("year") or params.get("start_year") or 0)
    end = int(params.get("year") or params.get("end_year") or 0)
    if not start or not end or start > end:
        raise ValueError("give year=YYYY, or both start_year and end_year with start_year <= end_year")
    if start < FIRST_YEAR or end > today.year:
        raise ValueError(f"years must lie between {FIRST_YEAR} and {today.year}, got {start}..{end}")
    return [y for y in range(start, end + 1) if year_periods(y, today)]


def _reason(fetch: list[int], complete: list[int], load_only: list[int]) -> str:
    """Why the plan holds these years, one clause per kind of year."""
    reason = (
        f"incomplete or new years with Census data: {', '.join(map(str, fetch))}"
        if fetch
        else "every year with Census data is complete in the landing zone"
    )
    if load_only:
        reason += f"; landed but not loaded, loaded from the landing zone: {', '.join(map(str, load_only))}"
    if set(complete) - set(load_only):
        reason += f"; complete, not asked again: {', '.join(map(str, sorted(set(complete) - set(load_only))))}"
    return reason
