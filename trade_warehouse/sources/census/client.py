"""The Census international trade API client: transport, retries and key redaction.

What a query asks for and how a served table is read is the protocol (``census_api``);
this module sends the queries and turns the answers into tables or typed errors.

Why it is strict: the real API answers a missing key with a redirect to an HTML page,
an unreleased month with an empty 204, a heavy query with a 500 after minutes, and
every value as a string. Each of those must become either rows, "no rows", a retry, or
a terminal error that says what to do; never a half-parsed month.

The API key travels only in the query string of the outgoing request. Every URL,
message and exception this module produces is passed through :func:`redact` first.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from trade_warehouse.core.http import ApiClient, retry_after_seconds
from trade_warehouse.sources.census.api import (
    CensusAuthError,
    CensusRequestError,
    CensusResponseError,
    Request,
    Response,
    TransientCensusError,
    hs4_totals_request,
    parse_table,
    totals_request,
)

EMULATOR_HEADER = "X-Census-Emulator"


def _raise_final(state: RetryCallState) -> None:
    """Out of attempts: one transient error that says so and carries ``attempts``, the requests sent."""
    error = state.outcome.exception()
    final = TransientCensusError(
        f"{error} (gave up after {state.attempt_number} attempts)", heavy=getattr(error, "heavy", False)
    )
    final.attempts = state.attempt_number  # type: ignore[attr-defined]
    raise final from None


class CensusClient(ApiClient):
    """Fetches Census tables with retries on transient faults only.

    ``sleep`` and ``jitter`` are injectable so tests can run the retry logic without waiting.
    """

    TIMEOUT_S = 180.0  # a heavy month can take minutes before the API gives up
    BACKOFF_S = 1.0

    def fetch(
        self, request: Request, month: str, max_attempts: int | None = None, heavy_attempts: int | None = None
    ) -> Response:
        """Send ``request``; retry transient faults (tenacity); return the raw body and parsed shape.

        ``heavy_attempts`` bounds the "too heavy" failures (5xx, time-outs) separately from
        the other transient ones: a split request gives up after one such failure and is
        split further, instead of making the server compute the same heavy query again.
        Terminal errors are never retried. A :class:`TransientCensusError` raised here
        carries ``attempts``, the requests sent.
        """
        attempts_allowed = max_attempts or self.max_attempts
        url = f"{self.base_url}/{request.path}?{request.query_string(self._api_key)}"
        started = time.monotonic()
        attempt = 0
        for attempt_state in self._retrying(attempts_allowed, heavy_attempts or attempts_allowed):
            with attempt_state:
                attempt = attempt_state.retry_state.attempt_number
                response = self._send_once(url, request)
        return self._response(request, month, response, attempt, started)

    def _retrying(self, attempts_allowed: int, heavy_allowed: int) -> Retrying:
        """Tenacity's loop: transient faults only, at most ``attempts_allowed`` tries and
        ``heavy_allowed`` "too heavy" failures, paced, waiting as :meth:`_wait_s` says."""
        heavy_failures = [0]

        def count_heavy(state: RetryCallState) -> None:
            heavy_failures[0] += bool(getattr(state.outcome.exception(), "heavy", False))

        def give_up(state: RetryCallState) -> bool:
            return state.attempt_number >= attempts_allowed or heavy_failures[0] >= heavy_allowed

        return Retrying(
            retry=retry_if_exception_type(TransientCensusError),
            stop=give_up,
            wait=lambda state: self._wait_s(state.attempt_number, state.outcome.exception().retry_after),
            before=lambda state: self._sleep(self.pacing_s) if self.pacing_s else None,
            after=count_heavy,
            sleep=self._sleep,
            retry_error_callback=_raise_final,
        )

    def _response(
        self, request: Request, month: str, response: httpx.Response, attempts: int, started: float
    ) -> Response:
        """The answer as the pipeline keeps it: the raw body of a 200, parsed strictly for its shape."""
        response_obj = Response(
            request=request,
            status=response.status_code,
            body=response.content if response.status_code == 200 else b"",
            source="census-emulator" if EMULATOR_HEADER in response.headers else "census",
            fetched_at=datetime.now(UTC).isoformat(timespec="seconds"),
            elapsed_s=round(time.monotonic() - started, 3),
            attempts=attempts,
        )
        if response.status_code == 200:
            try:
                parsed = parse_table(response.content, request, month)
            except CensusResponseError as error:  # its text quotes the body: never the key
                raise CensusResponseError(self._redact(str(error))) from None
            response_obj.header = parsed.header
            response_obj.row_count = parsed.row_count
            response_obj.prefix_rows = parsed.prefix_rows
        return response_obj

    def _send_once(self, url: str, request: Request) -> httpx.Response:
        where = request.describe()
        try:
            response = self._http.get(url)
        except httpx.TimeoutException as error:
            raise TransientCensusError(f"{where}: timed out ({error.__class__.__name__})", heavy=True) from None
        except httpx.TransportError as error:
            raise TransientCensusError(f"{where}: connection failed ({self._redact(str(error))})") from None
        status = response.status_code
        if 300 <= status < 400 or response.headers.get("X-DataWebAPI-KeyError"):
            location = response.headers.get("Location", "")
            problem = "missing" if "missing_key" in location or not self._api_key else "invalid"
            raise CensusAuthError(
                f"{where}: the Census API rejected the request because the API key is {problem} "
                f"(HTTP {status}, redirect to {self._redact(location) or 'n/a'}). Request a key at "
                "https://api.census.gov/data/key_signup.html, activate it from the e-mail, and set "
                "CENSUS_API_KEY or the password of the Airflow connection 'census_api'."
            )
        if status == 204:
            return response
        if status == 429:
            raise TransientCensusError(
                f"{where}: HTTP 429 Too Many Requests", retry_after_seconds(response.headers.get("Retry-After", ""))
            )
        if status >= 500:
            raise TransientCensusError(
                f"{where}: HTTP {status} {self._redact(response.text[:200]).strip()}", heavy=True
            )
        if status == 400:
            raise CensusRequestError(f"{where}: HTTP 400, the API says: {self._redact(response.text[:500]).strip()!r}")
        if status != 200:
            raise CensusRequestError(
                f"{where}: unexpected HTTP {status}: {self._redact(response.text[:200]).strip()!r}"
            )
        content_type = response.headers.get("Content-Type", "")
        if "json" not in content_type:
            raise CensusResponseError(
                f"{where}: expected application/json, got {content_type or 'no content type'!r}; "
                f"body starts with {self._redact(response.text[:80])!r}"
            )
        return response

    def fetch_totals(self, flow: str, month: str) -> Response:
        return self.fetch(totals_request(flow, month), month)

    def fetch_hs4_totals(self, flow: str, month: str) -> Response:
        return self.fetch(hs4_totals_request(flow, month), month)
