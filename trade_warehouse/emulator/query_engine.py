"""The rows the real Census API would return for a parsed query, over the synthetic universe.

Default-to-total rows (no country variable: the world total; no commodity variable: the
all-commodities row), groupings as ``CGP``, header = ``get`` + predicates in URL order
(duplicates kept), revised values when the emulator serves a vintage, and HTTP 500 when a
partner x commodity query would return more rows than the row budget (the heavy queries
the real API refuses).
"""

from __future__ import annotations

import pandas as pd

from trade_warehouse.emulator.census_query import (
    COMMODITY_VARS,
    LEVEL_DIGITS,
    Query,
    QueryError,
    match_code,
    match_series,
    requested_months,
)
from trade_warehouse.emulator.state import EmulatorState
from trade_warehouse.emulator.synthetic import WORLD_TOTAL_CODE, stable_seed
from trade_warehouse.emulator.us_states import TOTAL as ALL_STATES
from trade_warehouse.emulator.us_states import state_leaves

# Leaf value columns, monthly: dollars (val: exports ALL_VAL / imports GEN_VAL; con: imports for
# consumption) and, in the state datasets, value and shipping weight by method of transport.
NATIONAL_VALUES = ("val", "con")
STATE_VALUES = ("val", "con", "air_val", "air_swt", "ves_val", "ves_swt", "cnt_val", "cnt_swt")
# served variable -> leaf column (without the _MO / _YR period)
VALUE_SOURCES = {
    "ALL_VAL": "val",
    "GEN_VAL": "val",
    "CON_VAL": "con",
    "AIR_VAL": "air_val",
    "AIR_SWT": "air_swt",
    "VES_VAL": "ves_val",
    "VES_SWT": "ves_swt",
    "CNT_VAL": "cnt_val",
    "CNT_SWT": "cnt_swt",
}


class QueryEngine:
    """Turns a parsed query into the rows the real API would return."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.universe = state.universe

    def run(self, query: Query) -> tuple[list[str], list[list[str]]]:
        flow = query.flow
        commodity_var, ldesc_var, sdesc_var = COMMODITY_VARS[flow]
        header = list(query.get)
        echo: list[str] = []
        for key, _ in query.predicates:
            if key not in echo:
                echo.append(key)
        header += echo
        months = [m for m in requested_months(query) if "2010-01" <= m <= self.state.latest_month]
        months = sorted(set(months))
        country_active = query.mentions("CTY_CODE") or query.mentions("CTY_NAME")
        commodity_active = any(query.mentions(v) for v in (commodity_var, ldesc_var, sdesc_var)) or query.mentions(
            "COMM_LVL"
        )
        levels = query.values("COMM_LVL") or (list(LEVEL_DIGITS) + ["-"] if commodity_active else ["-"])
        for level in levels:
            if level not in LEVEL_DIGITS and level != "-":
                return header, []
        wants_ytd = any(v.endswith("_YR") for v in query.get)
        by_state = query.dataset == "statehs" and query.mentions("STATE")

        frames = []
        for month in months:
            leaves = self._month_leaves(query, month, wants_ytd)
            for level in levels:
                frames.append(self._aggregate(query, leaves, month, level, country_active, by_state))
        if not frames:
            return header, []
        data = pd.concat(frames, ignore_index=True)
        # the real API's limit is server time, spent on partner x commodity breakouts (by state:
        # on any breakout of the states); totals over all partners or all commodities are light
        breakouts = int(country_active) + int(commodity_active) + int(by_state)
        if breakouts >= 2 and (country_active or commodity_active) and len(data) > self.state.row_budget:
            raise QueryError(
                500,
                "There was an error while running your query.  We've logged the error and we'll correct it ASAP.  Sorry for the inconvenience.",
            )
        return header, self._render(query, header, data)

    def _month_leaves(self, query: Query, month: str, wants_ytd: bool) -> pd.DataFrame:
        """The month's finest rows with ``<value>_mo`` columns (and ``<value>_yr``, year to date)."""
        year, mon = int(month[:4]), int(month[5:])
        values, keys = self._layout(query)

        def rows(m: int) -> pd.DataFrame:
            vintage = self._vintage(f"{year}-{m:02d}")
            if query.dataset == "statehs":
                return state_leaves(self.universe, query.flow, year, m, vintage)
            return self.universe.leaves(query.flow, year, m, vintage)

        frame = rows(mon).rename(columns={v: f"{v}_mo" for v in values})
        if wants_ytd:
            ytd = pd.concat([rows(m) for m in range(1, mon + 1)]).groupby(keys, as_index=False)[list(values)].sum()
            ytd = ytd.rename(columns={v: f"{v}_yr" for v in values})
            frame = ytd.merge(frame, on=keys, how="left").fillna({f"{v}_mo": 0 for v in values})
        else:
            frame = frame.assign(**{f"{v}_yr": 0 for v in values})
        return frame

    @staticmethod
    def _layout(query: Query) -> tuple[tuple[str, ...], list[str]]:
        """The leaf value columns and the leaf key of the query's dataset."""
        if query.dataset == "statehs":
            return STATE_VALUES, ["state", "cty", "hs6"]
        return NATIONAL_VALUES, ["cty", "hs6"]

    def _vintage(self, month: str) -> int:
        """Revised values: most months of the last three years (and the current one) change.

        About one month in four of the window keeps its values, as real revisions leave
        some months untouched; a loader must reload exactly the months that changed.
        """
        if not self.state.vintage:
            return 0
        latest_year = int(self.state.latest_month[:4])
        if int(month[:4]) < latest_year - 3:
            return 0
        return self.state.vintage if stable_seed("revise", month, self.state.vintage) % 4 else 0

    def _aggregate(
        self, query: Query, leaves: pd.DataFrame, month: str, level: str, country_active: bool, by_state: bool
    ) -> pd.DataFrame:
        flow = query.flow
        commodity_var = COMMODITY_VARS[flow][0]
        values, _ = self._layout(query)
        sums = [f"{v}_{period}" for v in values for period in ("mo", "yr")]
        frame = leaves
        if level == "-":
            frame = frame.assign(k="-")
        else:
            digits = LEVEL_DIGITS[level]
            keys = frame["hs6"] + "0000" if digits == 10 else frame["hs6"].str[:digits]
            frame = frame.assign(k=keys)
        commodity_patterns = query.values(commodity_var)
        if commodity_patterns:
            frame = frame[match_series(frame["k"], commodity_patterns)]
        if query.dataset == "statehs":
            if by_state:  # every state, and '-' (all states) as the API serves it
                frame = pd.concat([frame, frame.assign(state=ALL_STATES)], ignore_index=True)
                patterns = query.values("STATE")
                if patterns:
                    frame = frame[match_series(frame["state"], patterns)]
            else:
                frame = frame.assign(state=ALL_STATES)
        else:
            frame = frame.assign(state=ALL_STATES)
        grouped = frame.groupby(["state", "cty", "k"], as_index=False)[sums].sum()
        membership = self.universe.membership
        if not country_active:
            membership = membership[membership["country"] == WORLD_TOTAL_CODE]
        else:
            codes = query.values("CTY_CODE")
            if codes:
                membership = membership[membership["country"].map(lambda c: match_code(c, codes))]
            names = query.values("CTY_NAME")
            if names:
                membership = membership[membership["country"].map(lambda c: self.universe.country_name(c) in names)]
            levels = query.values("SUMMARY_LVL")
            if levels:
                membership = membership[
                    membership["country"].map(lambda c: self.universe.country_summary_level(c) in levels)
                ]
        merged = grouped.merge(membership, left_on="cty", right_on="member")
        out = merged.groupby(["state", "country", "k"], as_index=False)[sums].sum()
        out["month"] = month
        out["level"] = level if level != "-" else "HS2"  # the total row is published with a level
        return out

    def _render(self, query: Query, header: list[str], data: pd.DataFrame) -> list[list[str]]:
        flow = query.flow
        commodity_var, ldesc_var, sdesc_var = COMMODITY_VARS[flow]
        universe = self.universe
        data = data.sort_values(["month", "state", "country", "k"], kind="stable")
        countries = data["country"].tolist()
        commodities = data["k"].tolist()
        columns: dict[str, list[str]] = {}
        for name in dict.fromkeys(header):
            if name == "CTY_CODE":
                columns[name] = countries
            elif name == "CTY_NAME":
                names = {c: universe.country_name(c) for c in set(countries)}
                columns[name] = [names[c] for c in countries]
            elif name == "SUMMARY_LVL":
                columns[name] = [universe.country_summary_level(c) for c in countries]
            elif name == commodity_var:
                columns[name] = commodities
            elif name in (ldesc_var, sdesc_var):
                descriptions = {k: universe.description(flow, k) for k in set(commodities)}
                full = [descriptions[k] for k in commodities]
                columns[name] = full if name == ldesc_var else [d[:50] for d in full]
            elif name == "COMM_LVL":
                columns[name] = data["level"].tolist()
            elif name == "time":
                columns[name] = data["month"].tolist()
            elif name == "YEAR":
                columns[name] = [m[:4] for m in data["month"]]
            elif name == "MONTH":
                columns[name] = [m[5:] for m in data["month"]]
            elif name == "STATE":
                columns[name] = data["state"].tolist()
            elif name[:-3] in VALUE_SOURCES and name[-3:] in ("_MO", "_YR"):
                column = f"{VALUE_SOURCES[name[:-3]]}_{name[-2:].lower()}"
                columns[name] = data[column].astype("int64").astype(str).tolist()
        return [list(row) for row in zip(*(columns[name] for name in header), strict=False)]
