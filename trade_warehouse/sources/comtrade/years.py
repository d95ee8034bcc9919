"""A Comtrade year: the source's unit of work, and how it appears in the pipeline's typed results.

One call fetches a year (12 periods), so a year is what is planned, landed, validated and
swapped. In the typed results of :mod:`trade_warehouse.core.results` a year is a period
like a Census month: flow ``comtrade``, period ``YYYY`` in the ``month`` field. The run
summary, the alert and ``raise_for_failures`` then read both sources alike.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from trade_warehouse.core.results import FailedExpectation, MonthFailure, Stage

FLOW = "comtrade"  # the flow of every Comtrade result (a Census result says exports or imports)
FIRST_YEAR = 2010


def period(year: int) -> str:
    """The period of a year in the typed results: ``YYYY``."""
    return f"{year:04d}"


def year_periods(year: int, today: date | None = None) -> tuple[str, ...]:
    """The ended months of ``year`` as Comtrade periods (YYYYMM): 12 for a past year."""
    today = today or datetime.now(UTC).date()
    last = 12 if year < today.year else today.month - 1
    return tuple(f"{year:04d}{month:02d}" for month in range(1, last + 1))


def year_failure(
    year: int,
    stage: Stage,
    reason: str,
    transient: bool = False,
    consequence: bool = False,
    expectations: list[FailedExpectation] | None = None,
) -> MonthFailure:
    """A failed Comtrade year as the pipeline's one failure type (flow ``comtrade``, period = the year)."""
    return MonthFailure(
        FLOW,
        period(year),
        stage,
        transient=transient,
        reason=reason,
        expectations=tuple(expectations or ()),
        consequence=consequence,
    )
