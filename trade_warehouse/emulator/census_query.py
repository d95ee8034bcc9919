"""The Census query language the emulator understands: variables, predicates, months.

Validates a request the way the real API does (unknown variables 400, ``for``/``in`` the
generic error, ``time`` as a month or ``from .. to ..`` range, ``YEAR``/``MONTH``), splits
``get`` from predicates (in URL order, repeats kept) and matches codes against predicate
patterns (repeat = OR, ``*``, ``prefix*``). The rows themselves: query_engine.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from trade_warehouse.core.months import add_months

COMMON_DIMENSIONS = ("CTY_CODE", "CTY_NAME", "COMM_LVL", "SUMMARY_LVL", "time", "YEAR", "MONTH")
VALUE_VARS = {
    "exports": ("ALL_VAL_MO", "ALL_VAL_YR"),
    "imports": ("GEN_VAL_MO", "GEN_VAL_YR", "CON_VAL_MO", "CON_VAL_YR"),
}
COMMODITY_VARS = {
    "exports": ("E_COMMODITY", "E_COMMODITY_LDESC", "E_COMMODITY_SDESC"),
    "imports": ("I_COMMODITY", "I_COMMODITY_LDESC", "I_COMMODITY_SDESC"),
}
# Real variables of the hs datasets that the emulator knows but does not break out.
NOT_MODELLED = {
    "exports": (
        "DF",
        "DISTRICT",
        "DIST_NAME",
        "LAST_UPDATE",
        "SUMMARY_LVL2",
        "UNIT_QY1",
        "UNIT_QY2",
        "QTY_1_MO",
        "QTY_1_YR",
        "QTY_2_MO",
        "QTY_2_YR",
        "AIR_VAL_MO",
        "VES_VAL_MO",
        "CNT_VAL_MO",
        "CC_MO",
        "CC_YR",
    ),
    "imports": (
        "CTY_SUBCODE",
        "DISTRICT",
        "DIST_NAME",
        "RP",
        "LAST_UPDATE",
        "SUMMARY_LVL2",
        "UNIT_QY1",
        "UNIT_QY2",
        "GEN_QY1_MO",
        "GEN_QY1_YR",
        "CON_QY1_MO",
        "GEN_CIF_MO",
        "GEN_CHA_MO",
        "DUT_VAL_MO",
        "CAL_DUT_MO",
        "AIR_VAL_MO",
        "VES_VAL_MO",
        "CNT_VAL_MO",
        "CC_MO",
        "CC_YR",
    ),
}
# The state datasets (statehs): STATE, and value and shipping weight by method of transport.
STATE_VARS = ("STATE",)
TRANSPORT_VARS = tuple(
    f"{mode}_{measure}_{period}"
    for mode in ("AIR", "VES", "CNT")
    for measure in ("VAL", "SWT")
    for period in ("MO", "YR")
)
LEVEL_DIGITS = {"HS2": 2, "HS4": 4, "HS6": 6, "HS10": 10}
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_RANGE = re.compile(r"^from\s+(\d{4}-\d{2})\s+to\s+(\d{4}-\d{2})$")


class QueryError(Exception):
    """A request the real API would reject: carries the status and the plain-text body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Query:
    flow: str
    get: list[str]
    predicates: list[tuple[str, str]]  # in URL order, repeats kept
    dataset: str = "hs"  # or "statehs": by U.S. state of origin (exports) or destination (imports)

    def values(self, name: str) -> list[str]:
        return [v for k, v in self.predicates if k == name]

    def mentions(self, name: str) -> bool:
        return name in self.get or any(k == name for k, _ in self.predicates)


def parse_query(flow: str, pairs: list[tuple[str, str]], dataset: str = "hs") -> Query:
    """Validate variable names the way the API does and split ``get`` from predicates."""
    known = set(COMMON_DIMENSIONS) | set(VALUE_VARS[flow]) | set(COMMODITY_VARS[flow])
    not_modelled = set(NOT_MODELLED[flow])
    if dataset == "statehs":
        known |= set(STATE_VARS) | set(TRANSPORT_VARS)
        not_modelled -= set(TRANSPORT_VARS)
    gets = [v for k, v in pairs if k == "get"]
    if not gets or not gets[0]:
        raise QueryError(400, "error: missing 'get' parameter")
    variables = [v.strip() for v in gets[0].split(",") if v.strip()]
    for variable in variables:
        if variable in not_modelled:
            raise QueryError(400, f"error: the Census emulator does not model variable '{variable}'")
        if variable not in known:
            raise QueryError(400, f"error: unknown variable '{variable}'")
    predicates = []
    for key, value in pairs:
        if key in ("get", "key"):
            continue
        if key == "for" or key == "in":
            raise QueryError(
                400,
                "There was an error while running your query.  We've logged the error and we'll correct it "
                "ASAP.  Sorry for the inconvenience.",
            )
        if key not in known and key not in not_modelled:
            raise QueryError(400, f"error: unknown predicate variable: '{key}'")
        if key in not_modelled:
            raise QueryError(400, f"error: the Census emulator does not model predicate '{key}'")
        predicates.append((key, value))
    if dataset == "statehs":
        levels = [v for k, v in predicates if k == "COMM_LVL"]
        if any(level not in ("HS2", "HS4", "HS6") for level in levels):
            raise QueryError(400, "error: the statehs datasets serve COMM_LVL HS2, HS4 and HS6 only")
    return Query(flow=flow, get=variables, predicates=predicates, dataset=dataset)


def requested_months(query: Query) -> list[str]:
    times = query.values("time")
    if times:
        months: list[str] = []
        for value in times:
            value = value.strip()
            if _MONTH.match(value):
                months.append(value)
                continue
            match = _RANGE.match(value)
            if not match:
                raise QueryError(400, f"error: invalid 'time' value '{value}'; use YYYY-MM or from YYYY-MM to YYYY-MM")
            start, end = match.groups()
            current = start
            while current <= end:
                months.append(current)
                current = add_months(current, 1)
        return months
    years = query.values("YEAR")
    if not years:
        raise QueryError(400, "error: missing required parameter: 'time' (or YEAR)")
    month_values = query.values("MONTH") or [f"{m:02d}" for m in range(1, 13)]
    year_list = [str(y) for y in range(2010, 2031)] if "*" in years else years
    return sorted(f"{y}-{m}" for y in year_list for m in month_values)


def match_series(values: pd.Series, patterns: list[str]) -> pd.Series:
    """Vectorised :func:`match_code` for a column of codes (split requests repeat the predicate)."""
    if "*" in patterns:
        return pd.Series(True, index=values.index)
    prefixes = tuple(p[:-1] for p in patterns if p.endswith("*"))
    exact = [p for p in patterns if not p.endswith("*")]
    mask = values.isin(exact)
    if prefixes:
        mask |= values.str.startswith(prefixes) & (values != "-")
    return mask


def match_code(value: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        if pattern == "*" or pattern == value:
            return True
        if pattern.endswith("*") and value.startswith(pattern[:-1]) and value != "-":
            return True
    return False


def is_whole_month_detail(query: Query) -> bool:
    """Partner x commodity detail with no commodity predicate: the heaviest query there is."""
    commodity = COMMODITY_VARS[query.flow][0]
    return "CTY_CODE" in query.get and commodity in query.get and not query.values(commodity)
