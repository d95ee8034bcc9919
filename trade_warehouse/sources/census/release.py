"""What a run should load: the release-aware nightly plan and checks on requested windows.

Census publishes a month about 35 days after it ends and revises up to three prior years
with the April data (early June). The state of what we have comes from the landing zone
(files), never from the warehouse: planning must not wait on, or block, the writer.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from trade_warehouse.core.config import FLOWS, Settings
from trade_warehouse.core.months import FIRST_MONTH, MonthError, add_months, format_month
from trade_warehouse.load.landing import MANIFEST
from trade_warehouse.sources.census.api import totals_request
from trade_warehouse.sources.census.client import CensusClient

REVISION_YEARS = 3  # the annual revision reaches back this many calendar years
FRESH_INSTALL_LOOKBACK = 6  # months to look back for the newest released month


def landed_months(settings: Settings) -> list[str]:
    """Months with an extraction of both flows in the landing zone, oldest first."""
    per_flow = []
    for flow in FLOWS:
        base = settings.landing_dir / flow / settings.hs_level
        per_flow.append({d.name for d in base.iterdir() if (d / MANIFEST).exists()} if base.exists() else set())
    return sorted(per_flow[0] & per_flow[1])


def is_released(client: CensusClient, month: str) -> bool:
    """Ask the source: the world total of a month answers 204 until the month is released."""
    return client.fetch(totals_request("exports", month), month).status == 200


def this_month(today: date | None = None) -> str:
    return format_month(today or datetime.now(UTC).date())


def plan_nightly(settings: Settings, client: CensusClient, today: date | None = None) -> dict:
    """Newly released months (catching up if several), plus the revision window after April data.

    Returns ``{"months": [...], "new": [...], "revision": [...], "reason": "..."}``;
    ``months`` is empty on a night with nothing new.
    """
    current = this_month(today)
    have = landed_months(settings)
    new: list[str] = []
    if not have:
        candidate = add_months(current, -1)
        for _ in range(FRESH_INSTALL_LOOKBACK):
            if is_released(client, candidate):
                new = [candidate]
                break
            candidate = add_months(candidate, -1)
        reason = (
            f"fresh install: loading the newest released month {new[0]}; backfill history with make backfill"
            if new
            else "fresh install: no released month found in the last six"
        )
    else:
        candidate = add_months(have[-1], 1)
        while candidate < current and is_released(client, candidate):
            new.append(candidate)
            candidate = add_months(candidate, 1)
        reason = f"released since {have[-1]}: {', '.join(new)}" if new else f"nothing released after {have[-1]}"
    revision: list[str] = []
    for month in new:
        if month.endswith("-04"):  # the annual revision comes out with the April data
            window_start = f"{int(month[:4]) - REVISION_YEARS:04d}-01"
            revision = [m for m in have if window_start <= m < month]
    if revision:
        reason += f"; annual revision: re-pulling {len(revision)} loaded months from {revision[0]}"
    return {"months": sorted(set(new + revision)), "new": new, "revision": revision, "reason": reason}


def check_requested_window(months: list[str], client: CensusClient, today: date | None = None) -> None:
    """Refuse months the source cannot have: in the future, or not released yet."""
    current = this_month(today)
    last = months[-1]
    if last >= current:
        raise MonthError(
            f"end month {last} has not ended yet (today is in {current}); Census publishes a "
            "month about 35 days after it ends"
        )
    if not is_released(client, last):
        raise MonthError(f"end month {last} is not released yet: the Census API answers 204 for it")
    if months[0] < FIRST_MONTH:
        raise MonthError(f"start month {months[0]} is before {FIRST_MONTH}, where the series begins")
