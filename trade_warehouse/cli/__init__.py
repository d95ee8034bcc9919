"""The ``trade-warehouse`` command line: run, backfill, status, rollback."""

from trade_warehouse.cli.main import main

__all__ = ["main"]
