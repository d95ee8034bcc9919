"""Start the emulator in a child process for the length of a ``with`` block.

Used by ``make run``, ``make backfill`` (when ``CENSUS_API_BASE_URL`` is unset), ``make
mirror`` and the benchmark: one server on a free loopback port, serving both the Census
(``/data/timeseries/intltrade``) and the Comtrade (``/data/v1``) routes.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def emulator(scale: str, *extra: str) -> Iterator[str]:
    """Start the Census API emulator on a free loopback port; yield its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "trade_warehouse.emulator", "--port", "0", "--scale", scale, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline().strip() if process.stdout else ""
        if not line.startswith("CENSUS_API_BASE_URL="):
            raise RuntimeError(f"the emulator did not start: {line} {process.stderr.read() if process.stderr else ''}")
        yield line.split("=", 1)[1]
    finally:
        process.terminate()
        process.wait(timeout=10)


def comtrade_base_url(census_base_url: str) -> str:
    """The same emulator's Comtrade route, from the Census base URL it printed."""
    return census_base_url.replace("/data/timeseries/intltrade", "/data/v1")
