"""Reading the audit tables: which load of each month or year the warehouse holds now.

Why one module: "the latest loaded version" is one idiom (the newest ``finished_at`` among
the ``loaded`` rows of a flow-month, or of a Comtrade year), used by the loaders, the
publish fingerprint, the change detection and ``make status``. Written once here, every
reader agrees on what "current" means.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI reads these SQL texts without loading DuckDB
    import duckdb

# The Census loads the raw tables hold now: one row per flow, HS level and month (a subquery).
CURRENT_LOADS = """
    select * from audit.loads
    where status = 'loaded'
    qualify row_number() over (partition by flow, hs_level, month order by finished_at desc) = 1
"""

# The newest attempt per flow-month, failed or not: what ``make status`` shows.
LATEST_ATTEMPTS = """
    select * from audit.loads
    qualify row_number() over (partition by flow, hs_level, month order by finished_at desc) = 1
"""

# The Comtrade loads the raw table holds now: one row per year (a subquery).
CURRENT_COMTRADE_LOADS = """
    select * from audit.comtrade_loads
    where status = 'loaded'
    qualify row_number() over (partition by year order by finished_at desc) = 1
"""


def comtrade_loaded_versions(con: duckdb.DuckDBPyConnection) -> str | None:
    """The Comtrade year versions the raw table holds (for the publish fingerprint); None if none."""
    exists = con.execute(
        "select count(*) from duckdb_tables() where schema_name = 'audit' and table_name = 'comtrade_loads'"
    ).fetchone()[0]
    if not exists:
        return None
    return con.execute(
        f"select string_agg(year || ':' || load_id, ',' order by year) from ({CURRENT_COMTRADE_LOADS})"
    ).fetchone()[0]
