"""A BI-tool stand-in: queries the serving snapshot read-only in a loop until told to stop.

Usage: python bi_reader.py {sqlalchemy|duckdb} SERVING_DB STOP_FILE OUT_JSON

``sqlalchemy`` connects like Superset does (SQLAlchemy + duckdb-engine, read_only);
``duckdb`` uses the duckdb Python client. Each keeps a connection for a few queries and
then reconnects, as pooled BI connections do. Every distinct result it has seen so far is
kept up to date in ``OUT_JSON.seen`` (atomic rename), so a test can wait for "the readers
saw the old snapshot" and "they saw the new one" instead of sleeping.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

SQL = "select count(*), sum(exports_usd), sum(imports_usd) from marts.trade_balance_monthly"
QUERIES_PER_CONNECTION = 10


def main(mode: str, db: str, stop_file: str, out: str) -> None:
    results: list[list[int]] = []
    errors: list[str] = []
    queries = 0
    started = time.monotonic()
    seen: set[tuple[int, ...]] = set()

    def note(row: list[int]) -> None:
        results.append(row)
        if tuple(row) not in seen:
            seen.add(tuple(row))
            Path(out + ".seen.tmp").write_text(json.dumps(sorted(seen)))
            os.replace(out + ".seen.tmp", out + ".seen")

    while not Path(stop_file).exists() and time.monotonic() - started < 600:
        try:
            if mode == "sqlalchemy":
                from sqlalchemy import create_engine, text

                engine = create_engine(f"duckdb:///{db}", connect_args={"read_only": True})
                with engine.connect() as connection:
                    for _ in range(QUERIES_PER_CONNECTION):
                        note([int(v) for v in connection.execute(text(SQL)).one()])
                        queries += 1
                        time.sleep(0.02)
                engine.dispose()
            else:
                import duckdb

                connection = duckdb.connect(db, read_only=True)
                try:
                    for _ in range(QUERIES_PER_CONNECTION):
                        note([int(v) for v in connection.execute(SQL).fetchone()])
                        queries += 1
                        time.sleep(0.02)
                finally:
                    connection.close()
        except Exception as error:  # every error counts against the serving design
            errors.append(f"{error.__class__.__name__}: {error}")
            time.sleep(0.05)
    distinct = sorted({tuple(r) for r in results})
    Path(out).write_text(json.dumps({"queries": queries, "errors": errors, "distinct_results": distinct}))


if __name__ == "__main__":
    main(*sys.argv[1:5])
