"""The U.S. Census international trade source: plan, extract, load (through the gate).

The entry points the orchestration and the CLI call (``from trade_warehouse.sources.census
import extract, load_and_validate``); each returns a typed result (``core.results``).
Inside, one module per concern, in the order data flows:

- ``api``: the protocol (variables, requests, strict table parsing, errors);
  ``client``: the HTTP transport; ``split``: heavy months fetched in well-sized parts;
- ``release``/``plan``: which months a run covers; ``extraction``: fetch and land
  (``landing``: one response into the landing zone);
- ``reader``: landed JSON into typed temp tables; ``checks``: the Census gate;
  ``swap``: validate and replace a month; ``loader``: the load stage; ``history``: the
  vintage history of published totals.

The entry points are resolved on first use: the plan and extract tasks then never import
the loader's DuckDB, pandas and Great Expectations, which cost seconds per task.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trade_warehouse.core.entry_points import lazy_entry_points

if TYPE_CHECKING:
    from trade_warehouse.sources.census.extraction import extract, landed_targets
    from trade_warehouse.sources.census.loader import load_and_validate
    from trade_warehouse.sources.census.plan import plan_run, resolve_window

    load = load_and_validate

# entry point -> (module, name in it); ``load`` is the stage's short name for load_and_validate
ENTRY_POINTS = {
    "plan_run": ("plan", "plan_run"),
    "resolve_window": ("plan", "resolve_window"),
    "extract": ("extraction", "extract"),
    "landed_targets": ("extraction", "landed_targets"),
    "load_and_validate": ("loader", "load_and_validate"),
    "load": ("loader", "load_and_validate"),
}
__all__ = ["extract", "landed_targets", "load", "load_and_validate", "plan_run", "resolve_window"]

__getattr__ = lazy_entry_points(__name__, ENTRY_POINTS)
