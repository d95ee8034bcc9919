"""HTTP helpers both sources' clients share: the client's name, ``Retry-After``, key redaction.

Why here and not in one client: the Census and Comtrade clients obey the same rules (never
log a key, never wait on a server longer than five minutes), and no source imports another.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

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
