"""UN Comtrade, the partners' side of the balance: plan, extract, load (through the gate).

The same entry points as the Census source (``from trade_warehouse.sources.comtrade import
plan, extract, load``), returning the same typed results (``core.results``; a Comtrade
year is the period ``YYYY`` of flow ``comtrade``) and raising errors of the one base
(``core.errors``). Inside, one module per concern, in the order data flows:

- ``client``: the API (v1) transport, its requests and errors;
- ``years``: the unit of work (a year) and its place in the typed results;
- ``planner``: which years a run fetches; ``extraction``: fetch and land them
  (``landing``: the landing zone's layout and records);
- ``staging``: landed JSON into a typed temp table and its checks; ``loader``: gate, swap, audit.

The entry points are resolved on first use: the plan and extract tasks then never import
the loader's DuckDB, pandas and Great Expectations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trade_warehouse.core.entry_points import lazy_entry_points

if TYPE_CHECKING:
    from trade_warehouse.sources.comtrade.extraction import extract
    from trade_warehouse.sources.comtrade.loader import load_and_validate
    from trade_warehouse.sources.comtrade.planner import plan

    load = load_and_validate

# entry point -> (module, name in it); ``load`` is the stage's short name for load_and_validate
ENTRY_POINTS = {
    "plan": ("planner", "plan"),
    "extract": ("extraction", "extract"),
    "load": ("loader", "load_and_validate"),
    "load_and_validate": ("loader", "load_and_validate"),
}
__all__ = ["extract", "load", "load_and_validate", "plan"]

__getattr__ = lazy_entry_points(__name__, ENTRY_POINTS)
