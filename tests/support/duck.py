"""Read-only DuckDB helpers for tests (what a BI tool or an engineer would run)."""

from __future__ import annotations

import duckdb


def query(path, sql: str, params: list | None = None) -> list[tuple]:
    """Run ``sql`` on the database file at ``path``, opened read-only, and return all rows."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()
