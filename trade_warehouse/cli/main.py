"""Command line: ``python -m trade_warehouse run|backfill|status|rollback|bench-extract``.

This module is the argument parser and the dispatch only; each command lives with its
concern: ``commands`` (run, backfill, rollback), ``summary`` (running a DAG and the run
summary), ``costs`` (extraction cost tables, bench-extract), ``status``. ``run`` and
``backfill`` run the real Airflow DAGs and exit non-zero naming the first failed task and why.
"""

from __future__ import annotations

import argparse
import os
import sys

from trade_warehouse.cli.commands import command_backfill, command_rollback, command_run
from trade_warehouse.cli.costs import command_bench_extract
from trade_warehouse.cli.status import command_status
from trade_warehouse.core.config import ConfigError
from trade_warehouse.core.months import MonthError

HANDLERS = {
    "run": command_run,
    "backfill": command_backfill,
    "status": command_status,
    "rollback": command_rollback,
    "bench-extract": command_bench_extract,
}


def add_window_arguments(sub: argparse.ArgumentParser, default_start: str | None, default_end: str | None) -> None:
    """``--from``/``--to`` (required without defaults) and the emulator's ``--scale``."""
    sub.add_argument("--from", dest="start", default=default_start, required=default_start is None)
    sub.add_argument("--to", dest="end", default=default_end, required=default_end is None)
    sub.add_argument(
        "--scale",
        default=os.environ.get("CENSUS_EMULATOR_SCALE", "demo"),
        help="emulator scale when the emulator is used: small, demo or full",
    )


def parser() -> argparse.ArgumentParser:
    """Every command and flag of ``python -m trade_warehouse``."""
    root = argparse.ArgumentParser(prog="python -m trade_warehouse")
    commands = root.add_subparsers(dest="command", required=True)
    add_window_arguments(commands.add_parser("run"), "2011-01", "2017-12")  # the demo's window
    backfill = commands.add_parser("backfill")
    add_window_arguments(backfill, None, None)
    backfill.add_argument("--force", action="store_true", help="reload months even if unchanged")
    backfill.add_argument(
        "--from-landing", action="store_true", help="reload from the landing zone without calling the API"
    )
    bench = commands.add_parser("bench-extract", help="time extracting a window of months from the emulator")
    bench.add_argument("--from", dest="start", default="2017-06")
    bench.add_argument("--to", dest="end", default="2017-06")
    bench.add_argument("--month", default=None, help="one month (instead of --from/--to)")
    bench.add_argument("--scale", default="full")
    bench.add_argument(
        "--row-budget",
        type=int,
        default=2_000_000,
        help="rows above which the emulator answers 500, forcing the client to split",
    )
    commands.add_parser("status")
    commands.add_parser("rollback")
    return root


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and run the command; 2 for a bad month or setting, named on stderr."""
    args = parser().parse_args(argv)
    try:
        return HANDLERS[args.command](args)
    except (MonthError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
