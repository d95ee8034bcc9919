"""How long the client waits before retrying (no network: the policy itself)."""

from datetime import UTC, datetime

import pytest

from trade_warehouse.core.http import MAX_RETRY_AFTER_S, retry_after_seconds
from trade_warehouse.sources.census.client import CensusClient

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        ("Sun, 22 Nov 2026 12:00:30 GMT", 30.0),
        ("Sun, 22 Nov 2026 11:00:00 GMT", 0.0),
        ("", None),
        ("soon", None),
    ],
)
def test_retry_after_is_delta_seconds_or_an_http_date(header, seconds):
    assert retry_after_seconds(header, now=NOW) == seconds


def test_the_wait_honours_retry_after_but_caps_it_and_backs_off_otherwise():
    client = CensusClient("http://127.0.0.1:9", None, backoff_s=1.0, jitter=lambda: 0.5)
    try:
        assert client._wait_s(1, 2.0) == 2.0
        assert client._wait_s(1, 7200.0) == MAX_RETRY_AFTER_S  # a day-long Retry-After cannot stall a run
        assert [client._wait_s(n, None) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    finally:
        client.close()
