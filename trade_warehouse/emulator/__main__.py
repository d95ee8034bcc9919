"""Run the Census API emulator: ``python -m trade_warehouse.emulator --port 0``.

Prints one line ``CENSUS_API_BASE_URL=http://127.0.0.1:PORT/data/timeseries/intltrade``
once it listens, so scripts can read the port it chose.
"""

from __future__ import annotations

import argparse
import os
import sys

from trade_warehouse.core.months import parse_month
from trade_warehouse.emulator import DEMO_API_KEY
from trade_warehouse.emulator.server import EmulatorState, make_server
from trade_warehouse.emulator.synthetic import SCALES, Universe


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trade_warehouse.emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (loopback by default)")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--scale", choices=sorted(SCALES), default=os.environ.get("CENSUS_EMULATOR_SCALE", "demo"))
    parser.add_argument(
        "--latest-month",
        default=os.environ.get("CENSUS_EMULATOR_LATEST_MONTH", "2026-09"),
        help="last released month; later months answer 204",
    )
    parser.add_argument(
        "--api-key", action="append", default=None, help=f"accepted key (repeatable); default {DEMO_API_KEY!r}"
    )
    parser.add_argument(
        "--row-budget",
        type=int,
        default=2_000_000,
        help="a partner x commodity request that would return more rows answers HTTP 500, like a heavy real query",
    )
    parser.add_argument("--vintage", type=int, default=0, help=">0 serves annually revised values")
    args = parser.parse_args(argv)
    parse_month(args.latest_month, "--latest-month")
    state = EmulatorState(
        universe=Universe(args.scale),
        api_keys=frozenset(args.api_key or [DEMO_API_KEY]),
        latest_month=args.latest_month,
        row_budget=args.row_budget,
        vintage=args.vintage,
    )
    server = make_server(state, args.host, args.port)
    host, port = server.server_address[:2]
    print(f"CENSUS_API_BASE_URL=http://{host}:{port}/data/timeseries/intltrade", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
