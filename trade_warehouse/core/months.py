"""Month arithmetic and validation of the ``YYYY-MM`` strings users type."""

from __future__ import annotations

import re
from datetime import date

FIRST_MONTH = "2010-01"  # the Census time series starts in January 2010
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


class MonthError(ValueError):
    """A month or month range given by a user is malformed or out of range."""


def parse_month(value: str, name: str = "month") -> date:
    """Parse ``YYYY-MM`` into the first day of that month, naming ``name`` in errors."""
    match = _MONTH_RE.match(str(value).strip())
    if not match:
        raise MonthError(f"{name}={value!r} is not a month in YYYY-MM form (example: 2016-03)")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        raise MonthError(f"{name}={value!r} has month {month:02d}; months run 01 to 12")
    return date(year, month, 1)


def format_month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def add_months(month: str, count: int) -> str:
    day = parse_month(month)
    index = day.year * 12 + day.month - 1 + count
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_range(start: str, end: str) -> list[str]:
    """Every month from ``start`` to ``end`` inclusive, checked for order and coverage."""
    first = parse_month(start, "start_month")
    last = parse_month(end, "end_month")
    if first > last:
        raise MonthError(f"start_month={start} is after end_month={end}")
    if first < parse_month(FIRST_MONTH):
        raise MonthError(f"start_month={start} is before {FIRST_MONTH}, where the Census time series begins")
    months = []
    current = format_month(first)
    while parse_month(current) <= last:
        months.append(current)
        current = add_months(current, 1)
    return months
