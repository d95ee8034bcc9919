"""The publish step on the DuckLake backend: one transaction turns the built marts into the served ones.

Why no copy of a file: on the lake, dbt builds the marts into ``marts_build``; readers attach
the lake read-only and query ``marts``, which only this step writes. One DuckLake
transaction patches the changed months (or copies the small marts) from ``marts_build``
into ``marts``, checks the contract and the marts suite *inside* that transaction, writes
``meta`` and the ``audit.publishes`` row, and commits: a reader sees the previous publish
or this one, never a mix, and a failed check leaves ``marts`` as it was. Every publish is a
DuckLake snapshot, so ``rollback`` is time travel: ``marts`` and ``meta`` as of the snapshot
before the current publish, written back in one transaction.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

import duckdb

from trade_warehouse.core.config import Settings
from trade_warehouse.load import lake, warehouse
from trade_warehouse.publish.candidate import Candidate, Target, audit_record, fill_candidate
from trade_warehouse.publish.contract import PublishError, published_models
from trade_warehouse.publish.serving import serves_a_publish
from trade_warehouse.transform import dbt_runner

log = logging.getLogger(__name__)
SERVED_SCHEMAS = ("marts", "meta")


def publish(settings: Settings, run_id: str, fingerprint: str, months: list[str] | None = None) -> dict:
    """Publish the built marts into ``lake.marts`` in one transaction (retried on a commit conflict)."""
    models = published_models(settings)
    publish_id = str(uuid.uuid4())
    metadata = {"publish_id": publish_id, "run_id": run_id, "scope": dbt_runner.scope_fingerprint(settings)}
    with warehouse.open_writer(settings) as con:

        def attempt() -> Candidate:
            patch = months is not None and serves_a_publish(con)
            target = Target(lake.ALIAS, f"{lake.ALIAS}.{lake.BUILD_MARTS_SCHEMA}", served_rows(con))
            with warehouse.transaction(con):
                metadata["previous_snapshot"] = lake.current_snapshot(con)
                built = fill_candidate(con, settings, models, months if patch else None, metadata, target)
                warehouse.insert_publish_audit(con, audit_record(metadata, fingerprint, built, f"{lake.ALIAS}.marts"))
            return built

        built = warehouse.retry_on_conflict(attempt, "the publish")
    log.info("published %s into %s.marts (%d months)", publish_id, lake.ALIAS, built.months)
    return {
        "publish_id": publish_id,
        "row_counts": built.counts,
        "months": built.months,
        "serving_path": f"{lake.ALIAS}.marts",
        "patched_months": None if months is None else len(months),
    }


def served_rows(con: duckdb.DuckDBPyConnection) -> int:
    """Rows of the served ``trade_balance_monthly`` (the marts suite's row floor); 0 before a publish."""
    try:
        return con.execute(f"select count(*) from {lake.ALIAS}.marts.trade_balance_monthly").fetchone()[0]
    except duckdb.CatalogException:
        return 0


def rollback(settings: Settings) -> int:
    """Serve the previous publish again: ``marts`` and ``meta`` as of the snapshot before this one.

    Returns that snapshot's id. A second rollback goes one publish further back (the restored
    ``meta.publish`` names the snapshot before *it*).
    """
    with warehouse.open_writer(settings) as con:
        if not serves_a_publish(con):
            raise PublishError("the lake serves no publish yet: nothing to roll back")
        previous = con.execute("select previous_snapshot from meta.publish").fetchone()[0]
        if previous is None:
            raise PublishError("the publish in service is the first one: there is no previous publish to return to")

        def attempt() -> None:
            with warehouse.transaction(con):
                for schema in SERVED_SCHEMAS:
                    restore_schema(con, schema, previous)

        warehouse.retry_on_conflict(attempt, "the rollback")
        con.execute(
            "insert into audit.publishes (publish_id, published_at, status, serving_path) values (?, ?, ?, ?)",
            [
                str(uuid.uuid4()),
                datetime.now(UTC).replace(tzinfo=None),
                f"rollback to snapshot {previous}",
                "lake.marts",
            ],
        )
    return previous


def restore_schema(con: duckdb.DuckDBPyConnection, schema: str, snapshot: int) -> None:
    """Every table of ``schema`` as it was at ``snapshot``; tables that did not exist then are dropped."""
    now = tables_of(con, schema)
    then = set(tables_of(con, schema, snapshot))
    for table in now:
        if table in then:
            con.execute(
                f"create or replace table {schema}.{table} as select * from {schema}.{table} at (version => {snapshot})"
            )
        else:
            con.execute(f"drop table {schema}.{table}")


def tables_of(con: duckdb.DuckDBPyConnection, schema: str, snapshot: int | None = None) -> list[str]:
    """The tables of a lake schema now, or at ``snapshot`` (from DuckLake's own catalog tables)."""
    if snapshot is None:
        rows = con.execute(
            "select table_name from duckdb_tables() where database_name = ? and schema_name = ?", [lake.ALIAS, schema]
        ).fetchall()
        return [name for (name,) in rows]
    catalog = f"__ducklake_metadata_{lake.ALIAS}"
    rows = con.execute(
        f"""
        select t.table_name
        from {catalog}.ducklake_table as t
        join {catalog}.ducklake_schema as s on s.schema_id = t.schema_id
        where s.schema_name = $2
          and t.begin_snapshot <= $1 and (t.end_snapshot is null or t.end_snapshot > $1)
          and s.begin_snapshot <= $1 and (s.end_snapshot is null or s.end_snapshot > $1)
        """,
        [snapshot, schema],
    ).fetchall()
    return [name for (name,) in rows]
