"""The published state, read-only, on either backend: what the report, the CLI and the next publish read.

Why one module: "is something published, and open it" differs by backend (the serving
DuckDB file, or the lake's ``marts`` and ``meta`` schemas) and is asked in six places.
Both connections answer the same SQL (``marts.…``, ``meta.…``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager

import duckdb

from trade_warehouse.core.config import Settings
from trade_warehouse.load import lake, warehouse


def is_published(settings: Settings) -> bool:
    """Whether a publish is in service (the serving file exists; the lake has ``meta.publish``)."""
    if settings.backend != "ducklake":
        return settings.serving_path.exists()
    with lake.connect(settings, read_only=True) as con:
        return serves_a_publish(con)


def serves_a_publish(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the lake on ``con`` serves a publish (its ``meta.publish`` exists)."""
    return bool(
        con.execute(
            "select count(*) from duckdb_tables() where database_name = ? and schema_name = 'meta' "
            "and table_name = 'publish'",
            [lake.ALIAS],
        ).fetchone()[0]
    )


@contextmanager
def open_served(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """The published marts, read-only: the serving file, or the lake attached read-only and in use."""
    if settings.backend == "ducklake":  # readers and the writer see one lake; `marts` is the served part
        opened = warehouse.open_reader(settings)
    else:
        opened = closing(duckdb.connect(str(settings.serving_path), read_only=True))
    with opened as con:
        yield con


def where_served(settings: Settings) -> str:
    """Where readers find the marts, for messages: the file's path or the lake's attach."""
    if settings.backend == "ducklake":
        return f"{lake.attach_sql(lake.lake_settings(settings))}; USE {lake.ALIAS}; -- then marts.*"
    return str(settings.serving_path)
