"""HTTP front of the emulator: the Census query language over the synthetic universe.

Implements the behaviour of the real API that a client depends on:
key check first (302 + ``X-DataWebAPI-KeyError``), ordered ``get``, ``time`` as a month
or ``from .. to ..`` range, predicates (repeat = OR, ``*``, ``prefix*``), default-to-total
rows, groupings as ``CGP``, header = ``get`` + predicates in URL order (duplicates kept),
204 for no rows or unreleased months, 400 for unknown variables, 500 when a partner x commodity
query would return more rows than the row budget (the heavy queries the real API refuses).
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pandas as pd

from trade_warehouse.core.config import FLOWS
from trade_warehouse.core.months import add_months
from trade_warehouse.emulator import comtrade
from trade_warehouse.emulator.synthetic import WORLD_TOTAL_CODE, Universe, stable_seed

API_PREFIX = "/data/timeseries/intltrade/"
DATASETS = ("hs",)
OTHER_DATASETS = ("naics", "enduse", "sitc", "usda", "hitech", "porths", "statehs", "statenaics")
MISSING_KEY_URL = "https://api.census.gov/data/missing_key.html"
INVALID_KEY_URL = "https://api.census.gov/data/invalid_key.html"

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
class Faults:
    """Faults a test switches on in the emulator it runs (``EmulatorState.faults``)."""

    fail_next: int = 0  # answer the next N data requests with HTTP 500
    slow_seconds: float = 0.0  # delay every data request
    html_200: bool = False  # answer 200 with an HTML body
    truncate_json: bool = False  # cut the JSON body in half
    drop_column: str | None = None  # remove this column from header and rows
    duplicate_rows: bool = False  # repeat the first data row
    wrong_month: str | None = None  # label every row with this month instead
    status_429: int = 0  # answer the next N data requests with 429 + Retry-After: 1
    corrupt_month: str | None = None  # repeat the first data row, only in responses for this month
    fail_whole_month: int = 0  # answer the next N whole-month detail requests (no commodity predicate) with 500


@dataclass
class EmulatorState:
    universe: Universe
    api_keys: frozenset[str]
    latest_month: str
    row_budget: int = 2_000_000
    vintage: int = 0
    faults: Faults = field(default_factory=Faults)
    lock: threading.Lock = field(default_factory=threading.Lock)
    request_count: int = 0
    comtrade: comtrade.ComtradeState | None = None  # the UN Comtrade route's state (see emulator/comtrade.py)


@dataclass
class Query:
    flow: str
    get: list[str]
    predicates: list[tuple[str, str]]  # in URL order, repeats kept

    def values(self, name: str) -> list[str]:
        return [v for k, v in self.predicates if k == name]

    def mentions(self, name: str) -> bool:
        return name in self.get or any(k == name for k, _ in self.predicates)


def parse_query(flow: str, pairs: list[tuple[str, str]]) -> Query:
    """Validate variable names the way the API does and split ``get`` from predicates."""
    known = set(COMMON_DIMENSIONS) | set(VALUE_VARS[flow]) | set(COMMODITY_VARS[flow])
    gets = [v for k, v in pairs if k == "get"]
    if not gets or not gets[0]:
        raise QueryError(400, "error: missing 'get' parameter")
    variables = [v.strip() for v in gets[0].split(",") if v.strip()]
    for variable in variables:
        if variable in NOT_MODELLED[flow]:
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
        if key not in known and key not in NOT_MODELLED[flow]:
            raise QueryError(400, f"error: unknown predicate variable: '{key}'")
        if key in NOT_MODELLED[flow]:
            raise QueryError(400, f"error: the Census emulator does not model predicate '{key}'")
        predicates.append((key, value))
    return Query(flow=flow, get=variables, predicates=predicates)


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


def _match_series(values: pd.Series, patterns: list[str]) -> pd.Series:
    """Vectorised :func:`_match` for a column of codes (split requests repeat the predicate)."""
    if "*" in patterns:
        return pd.Series(True, index=values.index)
    prefixes = tuple(p[:-1] for p in patterns if p.endswith("*"))
    exact = [p for p in patterns if not p.endswith("*")]
    mask = values.isin(exact)
    if prefixes:
        mask |= values.str.startswith(prefixes) & (values != "-")
    return mask


def _match(value: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        if pattern == "*" or pattern == value:
            return True
        if pattern.endswith("*") and value.startswith(pattern[:-1]) and value != "-":
            return True
    return False


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
            frame = frame[_match_series(frame["k"], commodity_patterns)]
        grouped = frame.groupby(["cty", "k"], as_index=False)[["val_mo", "con_mo", "val_yr", "con_yr"]].sum()
        membership = self.universe.membership
        if not country_active:
            membership = membership[membership["country"] == WORLD_TOTAL_CODE]
        else:
            codes = query.values("CTY_CODE")
            if codes:
                membership = membership[membership["country"].map(lambda c: _match(c, codes))]
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


def render_json(header: list[str], rows: list[list[str]]) -> bytes:
    """The Census layout: a JSON array of string arrays, one row per line."""
    lines = [json.dumps(header)] + [json.dumps(row) for row in rows]
    return ("[" + ",\n".join(lines) + "]").encode("utf-8")


class Handler(BaseHTTPRequestHandler):
    server_version = "CensusEmulator/1.0"
    state: EmulatorState  # set on the subclass made by make_server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        return  # quiet: the query string carries the key, and tests want clean output

    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "text/plain;charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("X-Census-Emulator", "synthetic")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status != 204:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 204 and body:
            self.wfile.write(body)

    def _take_whole_month_fault(self) -> bool:
        with self.state.lock:
            if self.state.faults.fail_whole_month > 0:
                self.state.faults.fail_whole_month -= 1
                return True
        return False

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        url = urlsplit(self.path)
        path = url.path
        if path in ("/data/missing_key.html", "/data/invalid_key.html"):
            title = "Missing Key" if "missing" in path else "Invalid Key"
            self._send(200, f"<html><body><h1>{title}</h1></body></html>".encode(), "text/html;charset=utf-8")
            return
        if path == comtrade.API_PATH:  # UN Comtrade's partner-side data (mirror statistics)
            comtrade.handle(self, comtrade.state_for(self.state), self.state.universe, url.query)
            return
        if not path.startswith(API_PREFIX):
            self._send(404, b"error: unknown dataset")
            return
        parts = path[len(API_PREFIX) :].strip("/").split("/")
        if len(parts) != 2 or parts[0] not in FLOWS:
            self._send(404, b"error: unknown dataset")
            return
        flow, dataset = parts[0], parts[1]
        if dataset.endswith(".json") or dataset.endswith(".html"):
            self._send(200, json.dumps({"dataset": dataset, "emulator": True}).encode(), "application/json")
            return
        if dataset not in DATASETS:
            status = 400 if dataset in OTHER_DATASETS else 404
            self._send(status, f"error: the Census emulator serves only the hs dataset, not '{dataset}'".encode())
            return
        pairs = parse_qsl(url.query, keep_blank_values=True)
        keys = [v for k, v in pairs if k == "key"]
        if not keys or not keys[0]:
            self._send(302, b"", headers={"Location": MISSING_KEY_URL, "X-DataWebAPI-KeyError": "1"})
            return
        if keys[0] not in self.state.api_keys:
            self._send(302, b"", headers={"Location": INVALID_KEY_URL, "X-DataWebAPI-KeyError": "1"})
            return
        with self.state.lock:
            self.state.request_count += 1
            faults = self.state.faults
            if faults.fail_next > 0:
                faults.fail_next -= 1
                inject_500 = True
            else:
                inject_500 = False
            if faults.status_429 > 0:
                faults.status_429 -= 1
                inject_429 = True
            else:
                inject_429 = False
        if faults.slow_seconds:
            time.sleep(faults.slow_seconds)
        if inject_429:
            self._send(429, b"Too Many Requests", headers={"Retry-After": "1"})
            return
        if inject_500:
            self._send(500, b"There was an error while running your query.")
            return
        if faults.html_200:
            self._send(200, b"<html><body>Service maintenance</body></html>", "text/html;charset=utf-8")
            return
        try:
            query = parse_query(flow, pairs)
            if _is_whole_month_detail(query) and self._take_whole_month_fault():
                raise QueryError(500, "There was an error while running your query.")
            header, rows = QueryEngine(self.state).run(query)
        except QueryError as error:
            self._send(error.status, error.message.encode())
            return
        if not rows:
            self._send(204)
            return
        header, rows = _apply_data_faults(faults, header, rows)
        body = render_json(header, rows)
        if faults.truncate_json:
            body = body[: len(body) // 2]
        self._send(200, body, "application/json;charset=utf-8")


def _is_whole_month_detail(query: Query) -> bool:
    """Partner x commodity detail with no commodity predicate: the heaviest query there is."""
    commodity = COMMODITY_VARS[query.flow][0]
    return "CTY_CODE" in query.get and commodity in query.get and not query.values(commodity)


def _apply_data_faults(faults: Faults, header: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    if faults.drop_column and faults.drop_column in header:
        index = header.index(faults.drop_column)
        header = header[:index] + header[index + 1 :]
        rows = [row[:index] + row[index + 1 :] for row in rows]
    if faults.duplicate_rows:
        rows = [rows[0]] + rows
    if faults.corrupt_month and "time" in header and rows[0][header.index("time")] == faults.corrupt_month:
        rows = [rows[0]] + rows
    if faults.wrong_month and "time" in header:
        index = header.index("time")
        rows = [row[:index] + [faults.wrong_month] + row[index + 1 :] for row in rows]
    return header, rows


def make_server(state: EmulatorState, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
