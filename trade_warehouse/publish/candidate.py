"""Filling a candidate serving snapshot from the writer's marts, and checking it.

Why apart from the swap: this is everything that happens inside the candidate file while
it is attached to the warehouse (copy or patch the marts, the contract, the marts suite,
the metadata readers and the next publish rely on); ``snapshot.publish`` only prepares
the file, then swaps it in with the Parquet set.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import duckdb

from trade_warehouse.core.config import Settings
from trade_warehouse.core.progress import time_left
from trade_warehouse.publish.changes import CURRENT_VERSIONS_SQL, level_parameters
from trade_warehouse.publish.contract import PublishedModel, PublishError, check_contract

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """What a filled candidate holds: row counts of the contract marts, months, checksum."""

    counts: dict[str, int]
    months: int
    first_month: date | None
    last_month: date | None
    checksum: str
    renamed: dict[str, set[str]] = field(default_factory=dict)  # see ``copy_marts``


@dataclass(frozen=True)
class Target:
    """Where a publish writes and reads: the served database and the schema dbt built the marts in.

    The file backend fills an attached ``candidate`` file from the warehouse's ``marts``; the
    lake backend fills the lake's own ``marts`` from ``marts_build`` in one transaction.
    """

    database: str = "candidate"
    source: str = "marts"
    previous_rows: int | None = None  # rows of trade_balance_monthly in service (None: read the file)


def fill_candidate(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    models: list[PublishedModel],
    months: list[str] | None,
    metadata: dict[str, str],
    target: Target | None = None,
) -> Candidate:
    """Copy (or patch, by ``months``) the marts into the target's ``marts``, check them, write ``meta``.

    ``metadata``: publish_id, run_id and scope (the scope fingerprint) of this publish, and
    on the lake the snapshot it replaces (``previous_snapshot``).
    Raises :class:`PublishError` when the candidate breaks the contract or the marts suite.
    """
    target = target or Target()
    db = target.database
    con.execute(f"create schema if not exists {db}.marts")
    renamed = copy_marts(con, models, months, target)
    counts = check_contract(con, db, models)
    validate_candidate(con, settings, target)
    write_metadata(con, settings, metadata, db)
    month_range = con.execute(f"select count(*), min(month), max(month) from {db}.marts.dim_month").fetchone()
    checksum = con.execute(
        f"select sum(exports_usd)::varchar || '/' || sum(imports_usd)::varchar from {db}.marts.trade_balance_monthly"
    ).fetchone()[0]
    return Candidate(counts, month_range[0], month_range[1], month_range[2], checksum, renamed)


def audit_record(metadata: dict, fingerprint: str, built: Candidate, serving_path: str) -> dict:
    """The ``audit.publishes`` row of a publish that went into service (either backend)."""
    return {
        "publish_id": metadata["publish_id"],
        "run_id": metadata["run_id"],
        "published_at": datetime.now(UTC).replace(tzinfo=None),
        "fingerprint": fingerprint,
        "months": built.months,
        "first_month": built.first_month,
        "last_month": built.last_month,
        "row_counts": json.dumps(built.counts, sort_keys=True),
        "checksum": built.checksum,
        "serving_path": serving_path,
        "status": "published",
        "scope_fingerprint": metadata["scope"],
    }


def _previous_rows(settings: Settings, table: str) -> int:
    if not settings.serving_path.exists():
        return 0
    con = duckdb.connect(str(settings.serving_path), read_only=True)
    try:
        return con.execute(f"select count(*) from marts.{table}").fetchone()[0]
    except duckdb.Error:
        return 0
    finally:
        con.close()


def validate_candidate(con: duckdb.DuckDBPyConnection, settings: Settings, target: Target) -> None:
    """The marts GX suite on the candidate, with a row floor from the published snapshot."""
    from trade_warehouse.load import gate  # great_expectations: imported only when a publish runs

    frame = con.execute(
        "select *, exports_usd - imports_usd - balance_usd as balance_check_usd "
        f"from {target.database}.marts.trade_balance_monthly"
    ).df()
    previous = target.previous_rows
    if previous is None:
        previous = _previous_rows(settings, "trade_balance_monthly")
    result = gate.run_suite("marts_trade_balance", frame, {"min_rows": max(1, int(previous * 0.95))})
    if not result.success:
        raise PublishError(
            f"candidate snapshot failed the marts suite (previous snapshot: {previous} rows):\n" + result.summary()
        )


def write_metadata(con: duckdb.DuckDBPyConnection, settings: Settings, metadata: dict, db: str) -> None:
    """What readers need to judge freshness: the publish and the last validation of each month.

    Also what the next publish compares against (``changed_months``): the scope fingerprint
    of this build and the load id of every flow-month it holds.
    """
    con.execute(f"create schema if not exists {db}.meta")
    con.execute(
        f"""
        create or replace table {db}.meta.publish as
        select ?::varchar as publish_id, ?::varchar as run_id, now()::timestamp as published_at,
               (select min(month) from {db}.marts.dim_month) as first_month,
               (select max(month) from {db}.marts.dim_month) as last_month,
               (select count(*) from {db}.marts.dim_month) as months,
               (select bool_or(data_source = 'census-emulator') from {db}.marts.dim_month) as synthetic,
               ?::varchar as scope_fingerprint,
               ?::bigint as previous_snapshot
        """,
        [metadata["publish_id"], metadata["run_id"], metadata["scope"], metadata.get("previous_snapshot")],
    )
    con.execute(
        f"create or replace table {db}.meta.month_versions as {CURRENT_VERSIONS_SQL}",
        level_parameters(settings),
    )
    con.execute(
        f"""
        create or replace table {db}.meta.validation_status as
        select flow, month, suite, success, failed_expectations, validated_at
        from (
            select *, row_number() over (partition by flow, month, suite order by validated_at desc) as rn
            from audit.validations
        )
        where rn = 1
        """
    )


def _key_predicate(publish_by: str, months: list[str]) -> str:
    """SQL: the rows of ``months`` (publish_by month) or of their years (publish_by year)."""
    if not months:
        return "false"
    if publish_by == "month":
        return "month in (" + ", ".join(f"date '{m}'" for m in months) + ")"
    return "year in (" + ", ".join(sorted({m[:4] for m in months})) + ")"


def copy_marts(
    con: duckdb.DuckDBPyConnection, models: list[PublishedModel], months: list[str] | None, target: Target
) -> dict[str, set[str]]:
    """Fill ``candidate.marts`` from the writer's marts: whole, or patched by ``months``.

    Patching: the changed months (years) of each ``publish_by`` mart are replaced; names
    its YAML copies from a dimension (meta ``dimension_names``) are refreshed in the other
    months for the keys whose name differs between the dimension in service (still in the
    candidate) and the new one; usually none, so no history is read. Returns, per patched
    mart, the months ('YYYY-MM') or years ('YYYY') outside ``months`` whose rows got a new
    name (their Parquet files must be written again, not reused).
    """
    served, built = f"{target.database}.marts", target.source
    existing = {
        name
        for (name,) in con.execute(
            "select table_name from duckdb_tables() where database_name = ? and schema_name = 'marts'",
            [target.database],
        ).fetchall()
    }
    patch = [m for m in models if months is not None and m.publish_by and m.name in existing]
    renames = _changed_names(con, patch, existing, target)  # before the dimensions are replaced
    began = time.monotonic()
    for done, model in enumerate(models, start=1):
        if model in patch:
            predicate = _key_predicate(model.publish_by, months or [])
            con.execute(f"delete from {served}.{model.name} where {predicate}")
            con.execute(
                f"insert into {served}.{model.name} by name select * from {built}.{model.name} where {predicate}"
            )
        else:
            con.execute(f"create or replace table {served}.{model.name} as select * from {built}.{model.name}")
        left = time_left(done, len(models), time.monotonic() - began)
        how = "changed months" if model in patch else "whole"
        log.info(
            "publish: %d/%d marts copied (%s: %s)%s", done, len(models), model.name, how, f"; {left}" if left else ""
        )
    for stale in existing - {m.name for m in models}:  # a model no longer published
        con.execute(f"drop table {served}.{stale}")
    return _refresh_names(con, renames, served)


def _changed_names(
    con: duckdb.DuckDBPyConnection, patch: list[PublishedModel], existing: set[str], target: Target
) -> list[tuple[PublishedModel, dict, str]]:
    """The dimension names that differ between the new marts and the candidate's, per patched mart.

    Each (model, dimension_names item, temp table of the new names) must be read before the
    candidate's dimensions are replaced.
    """
    renames: list[tuple[PublishedModel, dict, str]] = []
    for model in patch:
        for item in model.dimension_names:
            if item["dimension"] not in existing:
                continue
            columns = ", ".join([*item["keys"], item["column"]])
            where = item.get("filter", "true")
            changed = (
                f"select {columns} from {target.source}.{item['dimension']} where {where} "
                f"except select {columns} from {target.database}.marts.{item['dimension']} where {where}"
            )
            if con.execute(f"select count(*) from ({changed})").fetchone()[0]:
                table = f"renamed_{len(renames)}"
                con.execute(f"create or replace temp table {table} as {changed}")
                renames.append((model, item, table))
    return renames


def _refresh_names(
    con: duckdb.DuckDBPyConnection, renames: list[tuple[PublishedModel, dict, str]], served: str
) -> dict[str, set[str]]:
    """Write the new names into every candidate row still carrying an old one; the files touched, per mart."""
    renamed: dict[str, set[str]] = {}
    for model, item, table in renames:
        key_of = "strftime(t.month, '%Y-%m')" if model.publish_by == "month" else "t.year::varchar"
        keys = " and ".join(f"t.{k} = d.{k}" for k in item["keys"])
        column = item["column"]
        stale_rows = f"{keys} and t.{column} is distinct from d.{column}"
        files = con.execute(
            f"select distinct {key_of} from {served}.{model.name} as t, {table} as d where {stale_rows}"
        ).fetchall()
        if files:
            renamed.setdefault(model.name, set()).update(k for (k,) in files)
            con.execute(
                f"update {served}.{model.name} as t set {column} = d.{column} from {table} as d where {stale_rows}"
            )
        con.execute(f"drop table {table}")
    return renamed
