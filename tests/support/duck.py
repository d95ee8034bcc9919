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


def parquet_differences(serving_path, parquet_set, tables) -> dict[str, int]:
    """Per table: rows that differ (both ways, EXCEPT ALL) between a Parquet set and the snapshot.

    A table is ``<set>/<table>/*.parquet`` (one ``data.parquet``, or one file per year).
    """
    con = duckdb.connect()
    con.execute(f"attach '{serving_path}' as s (read_only)")
    try:
        counts = {}
        for table in tables:
            files = f"{parquet_set / table}/*.parquet"
            counts[table] = con.execute(
                f"""
                select count(*) from (
                    (select * from read_parquet('{files}') except all select * from s.marts.{table})
                    union all
                    (select * from s.marts.{table} except all select * from read_parquet('{files}'))
                )
                """
            ).fetchone()[0]
        return counts
    finally:
        con.close()
