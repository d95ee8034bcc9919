"""Which months a Census run covers: the nightly release check, the run's params, or its date.

Planning reads the landing zone and asks the API which months are released; it never
opens the warehouse, so it neither waits on nor blocks the writer.
"""

from __future__ import annotations

import logging
from datetime import datetime

from trade_warehouse.core.config import Settings, load_settings
from trade_warehouse.core.credentials import api_credentials
from trade_warehouse.core.months import month_range, parse_month
from trade_warehouse.sources.census.client import CensusClient
from trade_warehouse.sources.census.release import check_requested_window, is_released, plan_nightly, this_month

log = logging.getLogger(__name__)


def resolve_window(params: dict) -> list[str]:
    """The months a run covers, from the run's params (``month`` or ``start_month``/``end_month``)."""
    month = params.get("month")
    if month:
        parse_month(month, "month")
        return [month]
    start, end = params.get("start_month"), params.get("end_month")
    if not start or not end:
        raise ValueError("give either month=YYYY-MM or both start_month and end_month (YYYY-MM)")
    return month_range(start, end)


def plan_run(nightly: bool, params: dict, logical_date: datetime | None) -> dict:
    """The months a DAG run loads: the nightly release check, params, or the run's logical date.

    Params are checked strictly (a bad or unreleased month fails the run at once). A
    scheduled or backfill run of the monthly DAG stands for the month of its logical
    date; if that month is not released yet, the run has nothing to do.
    """
    settings = load_settings()
    base_url, api_key = census_credentials(settings)
    explicit = any(params.get(k) for k in ("month", "start_month", "end_month"))
    with CensusClient(base_url, api_key, timeout_s=settings.timeout_s) as client:
        if nightly:
            planned = plan_nightly(settings, client)
        elif explicit:
            planned = _plan_requested(params, client)
        elif logical_date is not None:
            planned = _plan_logical_month(f"{logical_date.year:04d}-{logical_date.month:02d}", client)
        else:
            raise ValueError(
                "this run has no month: trigger it with params month=YYYY-MM, or start_month and "
                "end_month (a scheduled or backfill run takes the month of its data interval)"
            )
    log.info("plan: %s", planned["reason"])
    return planned


def _plan_requested(params: dict, client: CensusClient) -> dict:
    """The months the params name, checked as released unless the run reloads from the landing zone."""
    months = resolve_window(params)
    if not params.get("from_landing"):
        check_requested_window(months, client)
    return {"months": months, "new": months, "revision": [], "reason": "requested by params"}


def _plan_logical_month(month: str, client: CensusClient) -> dict:
    """A scheduled or backfill run: the month of its logical date, if released."""
    if month >= this_month() or not is_released(client, month):
        return {"months": [], "new": [], "revision": [], "reason": f"{month} is not released yet"}
    return {
        "months": [month],
        "new": [month],
        "revision": [],
        "reason": f"the month of the run's logical date ({month})",
    }


def census_credentials(settings: Settings) -> tuple[str, str | None]:
    """Base URL and key: the Airflow connection ``census_api`` wins over the environment."""
    return api_credentials("census_api", settings.base_url, settings.api_key)
