"""Filling a candidate serving snapshot from the writer's marts, and checking it.

Why apart from the swap: this is everything that happens inside the candidate file while
it is attached to the warehouse (copy or patch the marts, the contract, the marts suite,
the metadata readers and the next publish rely on); ``snapshot.publish`` only prepares
the file, then swaps it in with the Parquet set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import duckdb

from trade_warehouse.core.config import Settings
from trade_warehouse.publish.changes import CURRENT_VERSIONS_SQL
from trade_warehouse.publish.contract import PublishedModel, PublishError, check_contract


@dataclass(frozen=True)
class Candidate:
    """What a filled candidate holds: row counts of the contract marts, months, checksum."""

    counts: dict[str, int]
    months: int
    first_month: date | None
    last_month: date | None
    checksum: str
    renamed: dict[str, set[int]] = field(default_factory=dict)  # see ``copy_marts``


def fill_candidate(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    models: list[PublishedModel],
    months: list[str] | None,
    metadata: dict[str, str],
) -> Candidate:
    """Copy (or patch, by ``months``) the marts into the attached ``candidate``, check it, write ``meta``.

    ``metadata``: publish_id, run_id and scope (the scope fingerprint) of this publish.
    Raises :class:`PublishError` when the candidate breaks the contract or the marts suite.
    """
    con.execute("create schema if not exists candidate.marts")
    renamed = copy_marts(con, models, months)
    counts = check_contract(con, "candidate", models)
    validate_candidate(con, settings)
    write_metadata(con, settings, metadata["publish_id"], metadata["run_id"], metadata["scope"])
    month_range = con.execute("select count(*), min(month), max(month) from candidate.marts.dim_month").fetchone()
    checksum = con.execute(
        "select sum(exports_usd)::varchar || '/' || sum(imports_usd)::varchar "
        "from candidate.marts.trade_balance_monthly"
    ).fetchone()[0]
    return Candidate(counts, month_range[0], month_range[1], month_range[2], checksum, renamed)


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


def validate_candidate(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """The marts GX suite on the candidate, with a row floor from the published snapshot."""
    from trade_warehouse.load import gate  # great_expectations: imported only when a publish runs

    frame = con.execute(
        "select *, exports_usd - imports_usd - balance_usd as balance_check_usd "
        "from candidate.marts.trade_balance_monthly"
    ).df()
    previous = _previous_rows(settings, "trade_balance_monthly")
    result = gate.run_suite("marts_trade_balance", frame, {"min_rows": max(1, int(previous * 0.95))})
    if not result.success:
        raise PublishError(
            f"candidate snapshot failed the marts suite (previous snapshot: {previous} rows):\n" + result.summary()
        )


def write_metadata(
    con: duckdb.DuckDBPyConnection, settings: Settings, publish_id: str, run_id: str, scope: str
) -> None:
    """What readers need to judge freshness: the publish and the last validation of each month.

    Also what the next publish compares against (``changed_months``): the scope fingerprint
    of this build and the load id of every flow-month it holds.
    """
    con.execute("drop schema if exists candidate.meta cascade")
    con.execute("create schema candidate.meta")
    con.execute(
        """
        create table candidate.meta.publish as
        select ?::varchar as publish_id, ?::varchar as run_id, now()::timestamp as published_at,
               (select min(month) from candidate.marts.dim_month) as first_month,
               (select max(month) from candidate.marts.dim_month) as last_month,
               (select count(*) from candidate.marts.dim_month) as months,
               (select bool_or(data_source = 'census-emulator') from candidate.marts.dim_month) as synthetic,
               ?::varchar as scope_fingerprint
        """,
        [publish_id, run_id, scope],
    )
    con.execute(
        f"create table candidate.meta.month_versions as {CURRENT_VERSIONS_SQL}",
        [settings.hs_level],
    )
    con.execute(
        """
        create table candidate.meta.validation_status as
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
    con: duckdb.DuckDBPyConnection, models: list[PublishedModel], months: list[str] | None
) -> dict[str, set[int]]:
    """Fill ``candidate.marts`` from the writer's marts: whole, or patched by ``months``.

    Patching: the changed months (years) of each ``publish_by`` mart are replaced; names
    its YAML copies from a dimension (meta ``dimension_names``) are refreshed in the other
    months for the keys whose name differs between the dimension in service (still in the
    candidate) and the new one; usually none, so no history is read. Returns, per patched
    mart, the years outside ``months`` whose rows got a new name (their Parquet files must
    be written again, not reused).
    """
    existing = {
        name
        for (name,) in con.execute(
            "select table_name from duckdb_tables() where database_name = 'candidate' and schema_name = 'marts'"
        ).fetchall()
    }
    patch = [m for m in models if months is not None and m.publish_by and m.name in existing]
    renames = _changed_names(con, patch, existing)  # before the dimensions are replaced
    for model in models:
        if model in patch:
            predicate = _key_predicate(model.publish_by, months or [])
            con.execute(f"delete from candidate.marts.{model.name} where {predicate}")
            con.execute(
                f"insert into candidate.marts.{model.name} by name select * from marts.{model.name} where {predicate}"
            )
        else:
            con.execute(f"create or replace table candidate.marts.{model.name} as select * from marts.{model.name}")
    for stale in existing - {m.name for m in models}:  # a model no longer published
        con.execute(f"drop table candidate.marts.{stale}")
    return _refresh_names(con, renames)


def _changed_names(
    con: duckdb.DuckDBPyConnection, patch: list[PublishedModel], existing: set[str]
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
                f"select {columns} from marts.{item['dimension']} where {where} "
                f"except select {columns} from candidate.marts.{item['dimension']} where {where}"
            )
            if con.execute(f"select count(*) from ({changed})").fetchone()[0]:
                table = f"renamed_{len(renames)}"
                con.execute(f"create or replace temp table {table} as {changed}")
                renames.append((model, item, table))
    return renames


def _refresh_names(
    con: duckdb.DuckDBPyConnection, renames: list[tuple[PublishedModel, dict, str]]
) -> dict[str, set[int]]:
    """Write the new names into every candidate row still carrying an old one; the years touched, per mart."""
    renamed: dict[str, set[int]] = {}
    for model, item, table in renames:
        year_of = "year(t.month)" if model.publish_by == "month" else "t.year"
        keys = " and ".join(f"t.{k} = d.{k}" for k in item["keys"])
        column = item["column"]
        stale_rows = f"{keys} and t.{column} is distinct from d.{column}"
        years = con.execute(
            f"select distinct {year_of} from candidate.marts.{model.name} as t, {table} as d where {stale_rows}"
        ).fetchall()
        if years:
            renamed.setdefault(model.name, set()).update(y for (y,) in years)
            con.execute(
                f"update candidate.marts.{model.name} as t set {column} = d.{column} from {table} as d where {stale_rows}"
            )
        con.execute(f"drop table {table}")
    return renamed
