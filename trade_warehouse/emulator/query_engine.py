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

        frames = []
        for month in months:
            leaves = self._month_leaves(flow, month, wants_ytd)
            for level in levels:
                frames.append(self._aggregate(query, leaves, month, level, country_active))
        if not frames:
            return header, []
        data = pd.concat(frames, ignore_index=True)
        # the real API's limit is server time, spent on partner x commodity breakouts; totals
        # over all partners or all commodities are light whatever their row count
        if country_active and commodity_active and len(data) > self.state.row_budget:
            raise QueryError(
                500,
                "There was an error while running your query.  We've logged the error and we'll correct it ASAP.  Sorry for the inconvenience.",
            )
        return header, self._render(query, header, data)

    def _month_leaves(self, flow: str, month: str, wants_ytd: bool) -> pd.DataFrame:
        year, mon = int(month[:4]), int(month[5:])
        current = self.universe.leaves(flow, year, mon, self._vintage(month))
        frame = current.rename(columns={"val": "val_mo", "con": "con_mo"})
        if wants_ytd:
            parts = [self.universe.leaves(flow, year, m, self._vintage(f"{year}-{m:02d}")) for m in range(1, mon + 1)]
            ytd = pd.concat(parts).groupby(["cty", "hs6"], as_index=False)[["val", "con"]].sum()
            ytd = ytd.rename(columns={"val": "val_yr", "con": "con_yr"})
            frame = ytd.merge(frame, on=["cty", "hs6"], how="left").fillna({"val_mo": 0, "con_mo": 0})
        else:
            frame = frame.assign(val_yr=0, con_yr=0)
        return frame

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
        self, query: Query, leaves: pd.DataFrame, month: str, level: str, country_active: bool
    ) -> pd.DataFrame:
        flow = query.flow
        commodity_var = COMMODITY_VARS[flow][0]
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
        grouped = frame.groupby(["cty", "k"], as_index=False)[["val_mo", "con_mo", "val_yr", "con_yr"]].sum()
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
        out = merged.groupby(["country", "k"], as_index=False)[["val_mo", "con_mo", "val_yr", "con_yr"]].sum()
        out["month"] = month
        out["level"] = level if level != "-" else "HS2"  # the total row is published with a level
        return out

    def _render(self, query: Query, header: list[str], data: pd.DataFrame) -> list[list[str]]:
        flow = query.flow
        commodity_var, ldesc_var, sdesc_var = COMMODITY_VARS[flow]
        universe = self.universe
        data = data.sort_values(["month", "country", "k"], kind="stable")
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
            elif name in ("ALL_VAL_MO", "GEN_VAL_MO"):
                columns[name] = data["val_mo"].astype("int64").astype(str).tolist()
            elif name in ("ALL_VAL_YR", "GEN_VAL_YR"):
                columns[name] = data["val_yr"].astype("int64").astype(str).tolist()
            elif name == "CON_VAL_MO":
                columns[name] = data["con_mo"].astype("int64").astype(str).tolist()
            elif name == "CON_VAL_YR":
                columns[name] = data["con_yr"].astype("int64").astype(str).tolist()
        return [list(row) for row in zip(*(columns[name] for name in header), strict=False)]
