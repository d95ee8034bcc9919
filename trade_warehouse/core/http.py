"""HTTP helpers both sources' clients share: the client's name, ``Retry-After``, key redaction.

Why here and not in one client: the Census and Comtrade clients obey the same rules (never
log a key, never wait on a server longer than five minutes), and no source imports another.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Self

import httpx

from trade_warehouse import __version__

CLIENT_VERSION = f"trade-warehouse/{__version__}"


MAX_RETRY_AFTER_S = 300.0  # never wait longer than this on a server's Retry-After


def retry_after_seconds(value: str, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110); None if unreadable."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def redact(text: str, secret: str | None) -> str:
    """Replace the API key, wherever it appears, with ``***``."""
    if not secret:
        return text
    return text.replace(secret, "***")


class _RedactKeys(logging.Filter):
    """Scrubs registered API keys from records of the HTTP libraries' loggers.

    httpx logs every request URL at INFO, and the Census key travels in the URL.
    """

    keys: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.keys:
            message = record.getMessage()
            for key in self.keys:
                message = message.replace(key, "***")
            record.msg, record.args = message, None
        return True


_REDACT_FILTER = _RedactKeys()
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).addFilter(_REDACT_FILTER)


class ApiClient:
    """What both sources' clients share: one httpx client, key redaction, and the wait between attempts.

    ``sleep`` and ``jitter`` are injectable so tests can run the retry logic without waiting.
    The key is registered with the httpx log filter, so a URL that carries it is logged as ``***``.
    """

    TIMEOUT_S = 120.0  # per request; a source overrides these defaults as class attributes
    BACKOFF_S = 1.0  # first wait; doubled per attempt

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout_s: float | None = None,
        max_attempts: int = 5,
        backoff_s: float | None = None,
        pacing_s: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        if api_key:
            _RedactKeys.keys.add(api_key)
        self.max_attempts = max_attempts
        self.backoff_s = self.BACKOFF_S if backoff_s is None else backoff_s
        self.pacing_s = pacing_s
        self._sleep = sleep
        self._jitter = jitter
        headers = {"User-Agent": CLIENT_VERSION, **self.auth_headers(api_key)}
        self._http = httpx.Client(
            timeout=self.TIMEOUT_S if timeout_s is None else timeout_s, follow_redirects=False, headers=headers
        )

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        """Headers that carry the key, for APIs that take it in a header (none by default: in the URL)."""
        return {}

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _redact(self, text: str) -> str:
        return redact(text, self._api_key)

    def _wait_s(self, attempt: int, retry_after: float | None) -> float:
        """The server's hint when it gave one (capped), else exponential backoff with jitter."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), MAX_RETRY_AFTER_S)
        return self.backoff_s * (2 ** (attempt - 1)) * (0.5 + self._jitter())
