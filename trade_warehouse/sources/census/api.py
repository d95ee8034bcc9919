"""What the Census international trade API speaks: variables, queries, tables, errors.

Kept apart from the transport (``census_client``): which variables a query asks for, how
its URL predicates are built, and how a served JSON table is checked and read are the
protocol, and the loader and the emulator's tests read them without an HTTP client. Every
value in a Census table is a string; a table that is not exactly what its request asked
for is refused here, never half-parsed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

from trade_warehouse.core.errors import TerminalError, TradeError, TransientError

# The one statement of which Census variables the pipeline asks for, and (for the values)
# the raw-table column each one lands in: the client, the loader and the gate read it here.
# Keys are the pipeline's flows: the national ones (dataset ``hs``) and the states' (``statehs``).
API_FLOW = {"exports": "exports", "imports": "imports", "state_exports": "exports", "state_imports": "imports"}
DATASET = {"exports": "hs", "imports": "hs", "state_exports": "statehs", "state_imports": "statehs"}
COMMODITY_VAR = {flow: {"exports": "E_COMMODITY", "imports": "I_COMMODITY"}[api] for flow, api in API_FLOW.items()}
# value and shipping weight (kg) by method of transport; vessel includes containerized vessel
TRANSPORT_COLUMNS = {
    "AIR_VAL_MO": "air_value_usd",
    "AIR_SWT_MO": "air_weight_kg",
    "VES_VAL_MO": "vessel_value_usd",
    "VES_SWT_MO": "vessel_weight_kg",
    "CNT_VAL_MO": "container_value_usd",
    "CNT_SWT_MO": "container_weight_kg",
}
VALUE_COLUMNS = {
    "exports": {"ALL_VAL_MO": "all_value_usd"},
    "imports": {"GEN_VAL_MO": "gen_value_usd", "CON_VAL_MO": "con_value_usd"},
    "state_exports": {"ALL_VAL_MO": "all_value_usd", **TRANSPORT_COLUMNS},
    "state_imports": {"GEN_VAL_MO": "gen_value_usd", "CON_VAL_MO": "con_value_usd", **TRANSPORT_COLUMNS},
}
VALUE_VARS = {flow: tuple(columns) for flow, columns in VALUE_COLUMNS.items()}
# HS chapters the API serves: exports 01-98, imports 01-99; 77 is reserved and never used.
CHAPTERS = {
    flow: tuple(f"{c:02d}" for c in range(1, 99 if api == "exports" else 100) if c != 77)
    for flow, api in API_FLOW.items()
}


def is_state_flow(flow: str) -> bool:
    """Whether a pipeline flow is one of the state-level endpoints (``statehs``)."""
    return DATASET[flow] == "statehs"


class CensusError(TradeError):
    """Base class; ``transient`` says whether a retry can help (see ``core.errors``)."""


class TransientCensusError(CensusError, TransientError):
    """5xx, 429, time-outs and dropped connections: retried with backoff.

    ``retry_after`` carries the server's ``Retry-After`` (seconds) when it sent one.
    ``heavy`` marks the failures the live API gives for queries too heavy to compute in
    time (HTTP 5xx after a long wait, or a client time-out): splitting helps with those,
    while throttling (429) and dropped connections only need another try.
    """

    def __init__(self, message: str, retry_after: float | None = None, heavy: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.heavy = heavy


class CensusAuthError(CensusError, TerminalError):
    """Missing or invalid API key (302 to an HTML page, or ``X-DataWebAPI-KeyError``)."""


class CensusRequestError(CensusError, TerminalError):
    """The API rejected the request (400): the server's message is quoted."""


class CensusResponseError(CensusError, TerminalError):
    """The response is not the JSON table the request asked for."""


@dataclass(frozen=True)
class Request:
    """One Census query: a flow, ordered ``get`` variables and ordered predicates."""

    flow: str
    get: tuple[str, ...]
    predicates: tuple[tuple[str, str], ...]
    kind: str  # "detail" (partner x commodity), "totals" (partner totals incl. groupings), "hs4" (world x HS4)
    prefixes: tuple[str, ...] = ()  # commodity prefixes of a split detail request (repeated predicate = OR)

    @property
    def part(self) -> str:
        """The part's name in file names and manifests: ``all``, ``87``, or ``01-15`` (first-last prefix)."""
        if not self.prefixes:
            return "all"
        if len(self.prefixes) == 1:
            return self.prefixes[0]
        return f"{self.prefixes[0]}-{self.prefixes[-1]}"

    def query_string(self, api_key: str | None) -> str:
        pairs: list[tuple[str, str]] = [("get", ",".join(self.get))]
        pairs += list(self.predicates)
        if api_key:
            pairs.append(("key", api_key))
        return urlencode(pairs)

    @property
    def path(self) -> str:
        """The dataset's path under the API's base URL: ``exports/hs``, ``imports/statehs`` ..."""
        return f"{API_FLOW[self.flow]}/{DATASET[self.flow]}"

    def describe(self) -> str:
        """The request as written to manifests and logs: never with the key."""
        return f"{self.path}?{self.query_string(None)}"


@dataclass
class Response:
    """A 200 (table) or 204 (no rows) answer, with the shape of the table as served."""

    request: Request
    status: int
    body: bytes
    source: str  # "census" or "census-emulator"
    fetched_at: str
    elapsed_s: float
    attempts: int
    header: list[str] = field(default_factory=list)  # exactly as served: predicate columns, duplicates kept
    row_count: int = 0
    prefix_rows: dict[str, int] = field(default_factory=dict)  # detail rows per requested prefix (or chapter)


def detail_request(flow: str, month: str, hs_level: str, prefixes: tuple[str, ...] | list[str] = ()) -> Request:
    """Partner x commodity values of one month at ``hs_level`` (individual partners + world total).

    ``prefixes`` restricts the request to commodity codes starting with any of them: the
    commodity predicate is repeated once per prefix, which the API reads as OR.
    """
    commodity = COMMODITY_VAR[flow]
    state = ("STATE",) if is_state_flow(flow) else ()  # state flows: every state (and '-', their total)
    get = (*state, "CTY_CODE", "CTY_NAME", commodity, f"{commodity}_LDESC", *VALUE_VARS[flow])
    predicates: list[tuple[str, str]] = [("COMM_LVL", hs_level), ("SUMMARY_LVL", "DET")]
    predicates += [(commodity, f"{prefix}*") for prefix in prefixes]
    predicates.append(("time", month))
    return Request(flow, get, tuple(predicates), "detail", tuple(prefixes))


def totals_request(flow: str, month: str) -> Request:
    """Every partner's, grouping's and the world's total over all commodities for one month.

    For a state flow: every state's total (and '-', all states) over all partners and
    commodities: the month's release check, and a second sum its detail must reconcile with.
    """
    if is_state_flow(flow):
        return Request(flow, ("STATE", *VALUE_VARS[flow]), (("time", month),), "totals")
    get = ("CTY_CODE", "CTY_NAME", "SUMMARY_LVL", *VALUE_VARS[flow])
    return Request(flow, get, (("time", month),), "totals")


def hs4_totals_request(flow: str, month: str) -> Request:
    """The world total per HS4 heading with the API's own descriptions (about 1,200 rows).

    No country variable: the API answers with the total over all countries. Its values
    are a second, independent sum for the month's detail rows to reconcile with.
    """
    commodity = COMMODITY_VAR[flow]
    get = (commodity, f"{commodity}_LDESC", *VALUE_VARS[flow])
    return Request(flow, get, (("COMM_LVL", "HS4"), ("time", month)), "hs4")


def expected_columns(request: Request) -> list[str]:
    """The header the API returns: ``get`` then each predicate in URL order (a predicate
    also in ``get`` therefore appears twice)."""
    return list(request.get) + list(dict.fromkeys(name for name, _ in request.predicates))


def collapse_repeats(names: list[str]) -> list[str]:
    """A header with an OR-list predicate's repeated columns collapsed to one (its layout)."""
    collapsed: list[str] = []
    for name in names:
        if not collapsed or collapsed[-1] != name:
            collapsed.append(name)
    return collapsed


def header_matches(header: list[str], request: Request) -> bool:
    """Whether a served header is ``get`` followed by the request's predicates.

    A repeated predicate (an OR list) may come back once or once per repetition; both
    are accepted. Nothing else is: a missing, extra or reordered column is an error.
    """
    get = list(request.get)
    if header[: len(get)] != get:
        return False
    served = collapse_repeats(header[len(get) :])
    return served == collapse_repeats([name for name, _ in request.predicates])


_INTEGER = re.compile(r"^-?\d+$")


@dataclass(frozen=True)
class ParsedTable:
    """What a strict parse learned about a response: its header as served and its size."""

    header: list[str]  # as served, duplicate predicate columns included
    row_count: int
    prefix_rows: dict[str, int]  # detail rows per requested prefix, or per HS chapter for a whole month


def column_positions(header: list[str]) -> dict[str, int]:
    """0-based position of each column name's first occurrence in a served header.

    A predicate that is also in ``get`` comes back twice with the same value; the first
    occurrence is the ``get`` column, so reading by first occurrence is exact.
    """
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        positions.setdefault(name, index)
    return positions


def parse_table(body: bytes, request: Request, month: str) -> ParsedTable:
    """Strictly parse a Census JSON table; return its served header, row count and prefix counts.

    Checks: a JSON array of string arrays; the header is the request's ``get`` followed by
    its predicates (duplicates kept, see :func:`header_matches`); every row has the header's
    width; value columns hold integer strings; ``time`` is the requested month. Errors name
    the row and the field. Detail rows are counted per requested prefix (per HS chapter for
    a whole month): the next split of this flow is sized from these counts.
    """
    try:
        table = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        snippet = body[:80].decode("utf-8", "replace")
        raise CensusResponseError(
            f"{request.describe()}: body is not JSON ({error.__class__.__name__}: {error}); starts with {snippet!r}"
        ) from None
    if not isinstance(table, list) or not table or not all(isinstance(r, list) for r in table):
        raise CensusResponseError(f"{request.describe()}: expected a JSON array of arrays with a header row")
    header = table[0]
    if not all(isinstance(name, str) for name in header) or not header_matches(header, request):
        expected = expected_columns(request)
        missing = [c for c in dict.fromkeys(expected) if c not in header]
        unexpected = [c for c in dict.fromkeys(header) if c not in expected]
        raise CensusResponseError(
            f"{request.describe()}: header {header} does not match the request; "
            f"missing columns: {missing or 'none'}; unexpected columns: {unexpected or 'none'}"
        )
    position = column_positions(header)
    value_positions = [position[v] for v in VALUE_VARS[request.flow]]
    time_position = position["time"]
    commodity_position = position.get(COMMODITY_VAR[request.flow]) if request.kind == "detail" else None
    # longest prefix first, so a row counts for the most specific prefix it matches
    prefixes = sorted(request.prefixes, key=len, reverse=True)
    prefix_rows: dict[str, int] = dict.fromkeys(request.prefixes, 0)
    for number, row in enumerate(table[1:], start=1):
        if len(row) != len(header):
            raise CensusResponseError(
                f"{request.describe()}: row {number} has {len(row)} fields, the header has {len(header)}"
            )
        if not all(isinstance(v, str) for v in row):
            raise CensusResponseError(f"{request.describe()}: row {number} has a non-string value: {row}")
        for value_position in value_positions:
            if not _INTEGER.match(row[value_position]):
                raise CensusResponseError(
                    f"{request.describe()}: row {number} field {header[value_position]} = "
                    f"{row[value_position]!r} is not an integer string"
                )
        if row[time_position] != month:
            raise CensusResponseError(
                f"{request.describe()}: row {number} field time = {row[time_position]!r}, but {month} was requested"
            )
        if commodity_position is not None:
            code = row[commodity_position]
            matched = next((p for p in prefixes if code.startswith(p)), None) if prefixes else code[:2]
            if matched is None:
                raise CensusResponseError(
                    f"{request.describe()}: row {number} has commodity {code!r}, outside the requested prefixes"
                )
            prefix_rows[matched] = prefix_rows.get(matched, 0) + 1
    return ParsedTable(header=header, row_count=len(table) - 1, prefix_rows=prefix_rows)
