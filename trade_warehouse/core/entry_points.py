"""A source package's entry points, imported on first use.

Why lazily: ``from trade_warehouse.sources.census import extract`` in the plan and extract tasks
must not import the loader's DuckDB, pandas and Great Expectations (seconds per task); the
package ``__init__`` maps each entry point to the module that defines it instead.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module


def lazy_entry_points(package: str, entry_points: dict[str, tuple[str, str]]) -> Callable[[str], object]:
    """A module ``__getattr__`` resolving ``name`` to ``entry_points[name] = (module, attribute)``."""

    def resolve(name: str) -> object:
        if name not in entry_points:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attribute = entry_points[name]
        return getattr(import_module(f"{package}.{module}"), attribute)

    return resolve
