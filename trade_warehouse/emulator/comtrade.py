"""UN Comtrade API v1 emulator route: the partners' own reports, derived from the U.S. data.

Serves ``GET /data/v1/get/C/M/HS`` with the real JSON shape
(``{"elapsedTime", "count", "data": [...], "error"}``) so the Comtrade client and the
mirror marts can be exercised offline. Every number is SYNTHETIC: a partner's reports
are computed from the Census emulator's U.S. data for the same partner, with planted,
documented asymmetries, so tests can check that the mirror mart finds exactly them:

- valuation: the partner values its imports CIF, ``cif_factor`` x the U.S. f.a.s. exports
  (the partner's own freight and insurance margin, not the flat 1.06 of the IMF's DOTS);
- timing: a share ``transit_share`` of each month's shipments is recorded by the importer
  a month later (goods in transit), on both sides of the trade;
- re-exports: ``reexport_share`` of what the U.S. records as imports from the partner
  (by origin) the partner records as exports to a third country (China -> Hong Kong).

Behaviour a client depends on: the key in the ``Ocp-Apim-Subscription-Key`` header (401
with Azure API Management's JSON message when missing or wrong), at most 12 periods per
call (400), 429 with ``Retry-After`` and a "Try again in N seconds" message when throttled
(a test switch), a record cap (responses with more rows are cut at the cap, as the real
API does), and no rows (``count: 0``) for periods after the latest released one.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl

from trade_warehouse.emulator.synthetic import Universe, read_csv

API_PATH = "/data/v1/get/C/M/HS"
US_M49 = "842"
KEY_HEADER = "Ocp-Apim-Subscription-Key"
MAX_PERIODS = 12
DEFAULT_MAX_RECORDS = 100_000
SOURCE_HEADER = "X-Comtrade-Emulator"


@dataclass(frozen=True)
class Asymmetry:
    """What the emulator plants for one reporter (see the module docstring)."""

    cif_factor: float = 1.06
    transit_share: float = 0.2
    reexport_share: float = 0.0


# Focus partners get their own, distinct margins so the mart's numbers can be told apart.
PLANTED: dict[str, Asymmetry] = {
    "392": Asymmetry(cif_factor=1.05, transit_share=0.30),  # Japan: sea freight, long transit
    "410": Asymmetry(cif_factor=1.07, transit_share=0.25),  # Korea
    "156": Asymmetry(cif_factor=1.08, transit_share=0.35, reexport_share=0.18),  # China, via Hong Kong
}
DEFAULT_ASYMMETRY = Asymmetry()


def asymmetry(m49: str) -> Asymmetry:
    return PLANTED.get(m49, DEFAULT_ASYMMETRY)


@lru_cache(maxsize=1)
def m49_to_census() -> dict[str, tuple[str, str, str]]:
    """M49 -> (Census code, name, ISO3) for partners whose M49 maps to exactly one Census code."""
    rows = [r for r in read_csv("census_partners.csv") if r.get("m49_code")]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["m49_code"]] = counts.get(row["m49_code"], 0) + 1
    return {
        r["m49_code"]: (r["partner_code"], r["partner_name"], r["iso3"]) for r in rows if counts[r["m49_code"]] == 1
    }


def _shift(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + month - 1 + delta
    return index // 12, index % 12 + 1


@lru_cache(maxsize=128)
def _partner_totals(universe: Universe, flow: str, year: int, month: int) -> dict[str, int]:
    """Each partner's U.S.-reported total of a month (vintage 0: the values first published).

    ``vintage`` is passed explicitly: the Census route calls ``leaves(..., 0)`` and the
    cache must see the same key, or every month would be generated twice.
    """
    leaves = universe.leaves(flow, year, month, 0)
    return {code: int(value) for code, value in leaves.groupby("cty")["val"].sum().items()}


class MirrorGenerator:
    """The partner-side monthly values, computed from the Census emulator's U.S. data.

    Used by the HTTP route and, independently of any SQL, by the tests that check the
    mirror mart: both call :meth:`value`.
    """

    def __init__(self, universe: Universe) -> None:
        self.universe = universe

    def us_value(self, flow: str, census_code: str, year: int, month: int) -> int:
        """The U.S.-reported value (first published, vintage 0) of a flow with a partner."""
        return _partner_totals(self.universe, flow, year, month).get(census_code, 0)

    def value(self, m49: str, flow_code: str, year: int, month: int) -> int:
        """The partner's reported value with the U.S. for a month: M = imports (CIF), X = exports (FOB)."""
        census_code = m49_to_census()[m49][0]
        planted = asymmetry(m49)
        share = planted.transit_share
        if flow_code == "M":  # U.S. exports of last month still in transit arrive in this month
            before = _shift(year, month, -1)
            shipped = (1 - share) * self.us_value("exports", census_code, year, month) + share * self.us_value(
                "exports", census_code, *before
            )
            return int(round(shipped * planted.cif_factor))
        after = _shift(year, month, 1)  # the U.S. records next month what leaves in this month
        arriving = (1 - share) * self.us_value("imports", census_code, year, month) + share * self.us_value(
            "imports", census_code, *after
        )
        return int(round(arriving * (1 - planted.reexport_share)))


@dataclass
class ComtradeState:
    """The Comtrade route's state: keys, release, cap and test switches."""

    api_keys: frozenset[str]
    latest_month: str  # YYYY-MM: later periods have no rows yet
    max_records: int = DEFAULT_MAX_RECORDS
    status_429: int = 0  # answer the next N data requests with 429
    retry_after_s: int = 1
    request_count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _error(handler: BaseHTTPRequestHandler, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
    _send(handler, status, json.dumps(body).encode(), headers)


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    handler.send_header(SOURCE_HEADER, "synthetic")
    handler.send_header("Content-Type", "application/json; charset=utf-8")
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def _codes(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def row(m49: str, flow_code: str, year: int, month: int, value: int) -> dict:
    """One data row in the API's field layout (the fields a monthly TOTAL query returns)."""
    census_code, name, iso3 = m49_to_census()[m49]
    imports = flow_code == "M"
    return {
        "typeCode": "C",
        "freqCode": "M",
        "refPeriodId": int(f"{year}{month:02d}01"),
        "refYear": year,
        "refMonth": month,
        "period": f"{year}{month:02d}",
        "reporterCode": int(m49),
        "reporterISO": iso3,
        "reporterDesc": name.title(),
        "flowCode": flow_code,
        "flowDesc": "Import" if imports else "Export",
        "partnerCode": int(US_M49),
        "partnerISO": "USA",
        "partnerDesc": "USA",
        "partner2Code": 0,
        "partner2ISO": "W00",
        "partner2Desc": "World",
        "classificationCode": "H5",
        "classificationSearchCode": "HS",
        "isOriginalClassification": True,
        "cmdCode": "TOTAL",
        "cmdDesc": "All Commodities",
        "aggrLevel": 0,
        "isLeaf": False,
        "customsCode": "C00",
        "mosCode": "0",
        "motCode": 0,
        "qtyUnitCode": -1,
        "qtyUnitAbbr": "N/A",
        "qty": None,
        "isQtyEstimated": False,
        "netWgt": None,
        "grossWgt": None,
        "cifvalue": value if imports else None,
        "fobvalue": None if imports else value,
        "primaryValue": value,
        "legacyEstimationFlag": 0,
        "isReported": True,
        "isAggregate": True,
        "synthetic": "comtrade-emulator: derived from the Census emulator, not official statistics",
    }


MISSING_KEY_MESSAGE = (
    "Access denied due to missing subscription key. Make "
    "sure to include subscription key when making requests to an API."
)
INVALID_KEY_MESSAGE = (
    "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."
)


def handle(handler: BaseHTTPRequestHandler, state: ComtradeState, universe: Universe, query: str) -> None:
    """Answer one ``/data/v1/get/C/M/HS`` request like the live API."""
    started = time.monotonic()
    key = handler.headers.get(KEY_HEADER)
    if not key or key not in state.api_keys:
        message = INVALID_KEY_MESSAGE if key else MISSING_KEY_MESSAGE
        _error(handler, 401, {"statusCode": 401, "message": message})
        return
    with state.lock:
        state.request_count += 1
        throttled = state.status_429 > 0
        state.status_429 -= int(throttled)
    if throttled:
        _error(
            handler,
            429,
            {"statusCode": 429, "message": f"Rate limit is exceeded. Try again in {state.retry_after_s} seconds."},
            {"Retry-After": str(state.retry_after_s)},
        )
        return
    params = dict(parse_qsl(query, keep_blank_values=True))
    problems = request_problems(params)
    if problems:
        _error(handler, 400, {"elapsedTime": "0 secs", "count": 0, "data": [], "error": "; ".join(problems)})
        return
    data = records(params, state, universe)[: state.max_records]  # the live API cuts at the cap, silently
    body = {"elapsedTime": f"{time.monotonic() - started:.2f} secs", "count": len(data), "data": data, "error": ""}
    _send(handler, 200, json.dumps(body).encode())


def request_problems(params: dict[str, str]) -> list[str]:
    """What the live API answers 400 for (too many or malformed periods, a commodity breakout)."""
    periods = _codes(params.get("period", ""))
    problems = []
    if not periods or len(periods) > MAX_PERIODS:
        problems.append(f"period: give 1 to {MAX_PERIODS} periods (YYYYMM), got {len(periods)}")
    if any(len(p) != 6 or not p.isdigit() for p in periods):
        problems.append("period: monthly data need YYYYMM periods")
    if params.get("cmdCode", "TOTAL") != "TOTAL":
        problems.append("cmdCode: the emulator serves only TOTAL")
    return problems


def records(params: dict[str, str], state: ComtradeState, universe: Universe) -> list[dict]:
    """The rows of a valid request: each known reporter's trade with the U.S., released periods only."""
    partners = _codes(params.get("partnerCode", US_M49))
    if US_M49 not in partners or params.get("partner2Code", "0") != "0":
        return []
    reporters = [m49 for m49 in _codes(params.get("reporterCode", "")) if m49 in m49_to_census() and m49 != US_M49]
    flows = [f for f in _codes(params.get("flowCode", "")) or ["M", "X"] if f in ("M", "X")]
    latest = state.latest_month.replace("-", "")
    generator = MirrorGenerator(universe)
    data = []
    for period in sorted(_codes(params.get("period", ""))):
        if period > latest:
            continue  # not released by the reporter yet: no rows, not an error
        year, month = int(period[:4]), int(period[4:])
        for m49 in reporters:
            for flow_code in flows:
                data.append(row(m49, flow_code, year, month, generator.value(m49, flow_code, year, month)))
    return data


RELEASE_LAG_MONTHS = 2  # partners report later than the Census Bureau


def state_for(emulator_state) -> ComtradeState:  # noqa: ANN001 - server.EmulatorState (no import cycle)
    """The route's state on an emulator: created on first use, accepting the emulator's keys and
    releasing a month ``RELEASE_LAG_MONTHS`` after the Census emulator does."""
    from trade_warehouse.core.months import add_months

    with emulator_state.lock:
        if emulator_state.comtrade is None:
            emulator_state.comtrade = ComtradeState(
                api_keys=emulator_state.api_keys,
                latest_month=add_months(emulator_state.latest_month, -RELEASE_LAG_MONTHS),
            )
        return emulator_state.comtrade
