"""The UN Comtrade API (v1) client: the partners' own reports of their trade with the U.S.

Same discipline as :mod:`trade_warehouse.sources.census.client`: every answer becomes rows, "no
rows", a retry, or a terminal error that says what to do. What is specific to Comtrade:

- the subscription key travels only in the ``Ocp-Apim-Subscription-Key`` header, never in
  the URL, so no URL, manifest, log line or exception can carry it (messages are redacted
  anyway, in case a server echoes it);
- at most 12 periods per call (the API's rule), so a year is one call;
- a free key returns at most ``max_records`` (100,000) records per call and cuts the rest
  silently: a response holding exactly the cap is treated as truncated, never accepted.
  :meth:`ComtradeClient.fetch_complete` splits such a request (periods, then reporters,
  then flows) and raises :class:`ComtradeTruncatedError` when it cannot be split further;
- 429 ("Rate limit is exceeded. Try again in N seconds") is retried after the server's
  hint, capped at ``MAX_RETRY_AFTER_S`` so a broken hint cannot stall a run.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from trade_warehouse.core.errors import TerminalError, TradeError, TransientError
from trade_warehouse.core.http import ApiClient, retry_after_seconds

KEY_HEADER = "Ocp-Apim-Subscription-Key"
EMULATOR_HEADER = "X-Comtrade-Emulator"
DATA_PATH = "/get/C/M/HS"  # monthly goods, Harmonized System
MAX_PERIODS = 12
DEFAULT_MAX_RECORDS = 100_000
US_M49 = "842"
KEY_HELP = (
    "Get a free key at https://comtradedeveloper.un.org (sign in, Products -> 'Free APIs' -> "
    "subscribe, copy the primary key), then set COMTRADE_API_KEY or the password of the Airflow "
    "connection 'comtrade_api'."
)


class ComtradeError(TradeError):
    """Base class; ``transient`` says whether a retry can help (see ``core.errors``)."""


class TransientComtradeError(ComtradeError, TransientError):
    """429, 5xx, time-outs and dropped connections; ``retry_after`` is the server's hint (s)."""

    transient = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ComtradeAuthError(ComtradeError, TerminalError):
    """Missing or invalid subscription key (401/403): retrying cannot help."""


class ComtradeRequestError(ComtradeError, TerminalError):
    """The API rejected the request (4xx, or a non-empty ``error``): its message is quoted."""


class ComtradeResponseError(ComtradeError, TerminalError):
    """The body is not the JSON the request asked for (shape, rows outside the request)."""


class ComtradeTruncatedError(ComtradeError, TerminalError):
    """A response held the record cap and the request cannot be split any further."""


@dataclass(frozen=True)
class ComtradeRequest:
    """Monthly TOTAL trade of ``reporters`` with ``partner``, for ``flows`` and ``periods`` (YYYYMM)."""

    reporters: tuple[str, ...]
    flows: tuple[str, ...]
    periods: tuple[str, ...]
    partner: str = US_M49
    cmd: str = "TOTAL"

    def __post_init__(self) -> None:
        if not self.periods or len(self.periods) > MAX_PERIODS:
            raise ValueError(f"a Comtrade request takes 1 to {MAX_PERIODS} periods, got {len(self.periods)}")
        if not self.reporters or not self.flows:
            raise ValueError("a Comtrade request needs at least one reporter and one flow")

    def params(self) -> list[tuple[str, str]]:
        """Query parameters: every breakdown pinned to its total (partner2 = World, all customs
        procedures, all modes of transport) so rows never double count."""
        return [
            ("reporterCode", ",".join(self.reporters)),
            ("period", ",".join(self.periods)),
            ("partnerCode", self.partner),
            ("partner2Code", "0"),
            ("cmdCode", self.cmd),
            ("flowCode", ",".join(self.flows)),
            ("customsCode", "C00"),
            ("motCode", "0"),
            ("includeDesc", "true"),
        ]

    def describe(self) -> str:
        """The request as written to manifests and logs (the key is never part of it)."""
        return DATA_PATH + "?" + "&".join(f"{k}={v}" for k, v in self.params())

    @property
    def part(self) -> str:
        """A short name for file names: first-last period, reporters, flows."""
        periods = self.periods[0] if len(self.periods) == 1 else f"{self.periods[0]}-{self.periods[-1]}"
        return f"{periods}-r{'_'.join(self.reporters)}-{''.join(self.flows)}"

    def split(self) -> tuple[ComtradeRequest, ComtradeRequest] | None:
        """Two requests covering this one: halve the periods, else the reporters, else the flows."""
        for name in ("periods", "reporters", "flows"):
            values = getattr(self, name)
            if len(values) > 1:
                half = len(values) // 2
                return (
                    ComtradeRequest(**{**self.__dict__, name: values[:half]}),
                    ComtradeRequest(**{**self.__dict__, name: values[half:]}),
                )
        return None


@dataclass
class ComtradeResponse:
    """A checked 200 answer: the raw body (landed unchanged) and what it holds."""

    request: ComtradeRequest
    status: int
    body: bytes
    count: int
    source: str  # "comtrade" or "comtrade-emulator"
    fetched_at: str
    elapsed_s: float
    attempts: int
    periods_with_rows: list[str]


_TRY_AGAIN = re.compile(r"try again in (\d+) seconds?", re.IGNORECASE)


def parse_body(body: bytes, request: ComtradeRequest) -> tuple[int, list[str]]:
    """Check a data response; return its row count and the periods that have rows.

    Checks: a JSON object with ``count``, ``data`` (a list of objects) and an empty
    ``error``; ``count`` equals the rows served; every row is of a requested reporter,
    partner, flow and period, with a numeric, non-negative ``primaryValue``.
    """
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise ComtradeResponseError(
            f"{request.describe()}: body is not JSON ({error}); starts with {body[:80].decode('utf-8', 'replace')!r}"
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise ComtradeResponseError(f"{request.describe()}: expected an object with a 'data' list")
    if document.get("error"):
        raise ComtradeRequestError(f"{request.describe()}: the API says: {document['error']!r}")
    rows = document["data"]
    if document.get("count") != len(rows):
        raise ComtradeResponseError(
            f"{request.describe()}: count = {document.get('count')!r} but {len(rows)} rows were served"
        )
    periods: set[str] = set()
    for number, item in enumerate(rows, start=1):
        if not isinstance(item, dict):
            raise ComtradeResponseError(f"{request.describe()}: row {number} is not an object")
        checks = {
            "period": (str(item.get("period")), request.periods),
            "reporterCode": (str(item.get("reporterCode")).zfill(3), request.reporters),
            "partnerCode": (str(item.get("partnerCode")).zfill(3), (request.partner,)),
            "flowCode": (str(item.get("flowCode")), request.flows),
        }
        for name, (value, allowed) in checks.items():
            if value not in allowed:
                raise ComtradeResponseError(
                    f"{request.describe()}: row {number} field {name} = {value!r} was not "
                    f"requested ({', '.join(allowed)})"
                )
        value = item.get("primaryValue")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ComtradeResponseError(
                f"{request.describe()}: row {number} primaryValue = {value!r} is not a non-negative number"
            )
        periods.add(str(item["period"]))
    return len(rows), sorted(periods)


class ComtradeClient(ApiClient):
    """Fetches Comtrade data with retries on transient faults only; ``sleep`` and ``jitter``
    are injectable so tests can exercise the retry logic without waiting."""

    TIMEOUT_S = 120.0
    BACKOFF_S = 2.0

    def __init__(
        self, base_url: str, api_key: str | None, *, max_records: int = DEFAULT_MAX_RECORDS, **options: Any
    ) -> None:
        """``options``: timeout_s, max_attempts, backoff_s, pacing_s, sleep, jitter (see ``ApiClient``)."""
        super().__init__(base_url, api_key, **options)
        self.max_records = max_records

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        """The subscription key travels in a header, never in the URL."""
        return {KEY_HEADER: api_key} if api_key else {}

    def fetch(self, request: ComtradeRequest) -> ComtradeResponse:
        """One request (retrying transient faults); raises :class:`ComtradeTruncatedError`
        when the answer holds the record cap (see :meth:`fetch_complete`)."""
        started = time.monotonic()

        def raise_final(state: RetryCallState) -> None:
            raise TransientComtradeError(
                f"{state.outcome.exception()} (gave up after {state.attempt_number} attempts)"
            ) from None

        retrying = Retrying(
            retry=retry_if_exception_type(TransientComtradeError),
            stop=lambda state: state.attempt_number >= self.max_attempts,
            wait=lambda state: self._wait_s(state.attempt_number, state.outcome.exception().retry_after),
            before=lambda state: self._sleep(self.pacing_s) if self.pacing_s else None,
            sleep=self._sleep,
            retry_error_callback=raise_final,
        )
        attempt = 0
        for attempt_state in retrying:
            with attempt_state:
                attempt = attempt_state.retry_state.attempt_number
                response = self._send_once(request)
        try:
            count, periods = parse_body(response.content, request)
        except ComtradeError as error:  # its text may quote the body: never the key
            raise type(error)(self._redact(str(error))) from None
        if count >= self.max_records:
            raise ComtradeTruncatedError(
                f"{request.describe()}: {count} records, the cap of {self.max_records} per call: the answer is "
                "cut short and was not accepted"
            )
        return ComtradeResponse(
            request=request,
            status=response.status_code,
            body=response.content,
            count=count,
            source="comtrade-emulator" if EMULATOR_HEADER in response.headers else "comtrade",
            fetched_at=datetime.now(UTC).isoformat(timespec="seconds"),
            elapsed_s=round(time.monotonic() - started, 3),
            attempts=attempt,
            periods_with_rows=periods,
        )

    def fetch_complete(self, request: ComtradeRequest) -> list[ComtradeResponse]:
        """Every row of ``request``: a truncated answer is split and re-asked, part by part.

        Raises :class:`ComtradeTruncatedError` if one period x reporter x flow alone reaches
        the cap (a request for TOTAL never does; a commodity breakdown might).
        """
        try:
            return [self.fetch(request)]
        except ComtradeTruncatedError as error:
            halves = request.split()
            if halves is None:
                raise ComtradeTruncatedError(
                    f"{error}; it cannot be split further (one period, reporter and "
                    "flow): ask for a coarser commodity level"
                ) from None
            return [response for half in halves for response in self.fetch_complete(half)]

    def _send_once(self, request: ComtradeRequest) -> httpx.Response:
        where = request.describe()
        try:
            response = self._http.get(self.base_url + DATA_PATH, params=request.params())
        except httpx.TimeoutException as error:
            raise TransientComtradeError(f"{where}: timed out ({error.__class__.__name__})") from None
        except httpx.TransportError as error:
            raise TransientComtradeError(f"{where}: connection failed ({self._redact(str(error))})") from None
        status = response.status_code
        text = self._redact(response.text[:300]).strip()
        if status in (401, 403):
            problem = "missing" if not self._api_key else "invalid or not subscribed"
            raise ComtradeAuthError(
                f"{where}: UN Comtrade refused the request: the subscription key is {problem} "
                f"(HTTP {status}: {text!r}). {KEY_HELP}"
            )
        if status == 429:
            hint = retry_after_seconds(response.headers.get("Retry-After", ""))
            if hint is None and (match := _TRY_AGAIN.search(response.text)):
                hint = float(match.group(1))
            raise TransientComtradeError(f"{where}: HTTP 429 rate limit exceeded ({text!r})", hint)
        if status >= 500:
            raise TransientComtradeError(f"{where}: HTTP {status} {text}")
        if status != 200:
            raise ComtradeRequestError(f"{where}: HTTP {status}, the API says: {text!r}")
        if "json" not in response.headers.get("Content-Type", ""):
            raise ComtradeResponseError(
                f"{where}: expected JSON, got {response.headers.get('Content-Type')!r}; body starts with {text[:80]!r}"
            )
        return response
