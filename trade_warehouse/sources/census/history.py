"""Vintage history: every loaded version of a month's published totals, kept per load.

Why a table written by the loader, and not dbt snapshots alone: a snapshot only sees its
source as it is when dbt runs, and the loader *replaces* a month in the raw tables, so
the values a revision overwrote are gone by the next build. Versions loaded before
snapshots existed could never be snapshotted at all. The loader therefore appends the
month's partner/grouping/world totals (and the world x HS4 totals) of every load to
``raw.census_values_history`` in the same transaction as the swap: a few hundred rows per
flow-month, one cheap SQL insert. The dbt snapshot ``snap_census__country_values`` reads
that table (current version per flow-month, see its YAML) on every build, with
``valid_from`` = the load's ``finished_at``, not the wall clock of the dbt run.

Months loaded before this table existed are backfilled from the immutable landing zone:
every ``loaded`` row of ``audit.loads`` names its landed files, which are read again
with the loader's own reader. Because each version's times come from ``audit.loads``,
replaying the history through the snapshot (:func:`replay_snapshot`, one snapshot run
per version step) gives the same rows as if the snapshot had run after every load.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb

from trade_warehouse.core.config import Settings
from trade_warehouse.load.landing import LandedFile, _read_manifest, month_dir

log = logging.getLogger(__name__)

HISTORY_SQL = """
create table if not exists raw.census_values_history (
    load_id varchar not null, flow varchar not null, hs_level varchar not null, month date not null,
    kind varchar not null, code varchar not null, name varchar, summary_level varchar, value_usd bigint not null
);
"""
VALUE = {"exports": "all_value_usd", "imports": "gen_value_usd"}  # the standard balance's two sides
SNAPSHOT = "snap_census__country_values"
SNAPSHOT_INPUT = "int_census__country_values_current"


def record_version(
    con: duckdb.DuckDBPyConnection, load_id: str, flow: str, hs_level: str, tables: dict[str, str]
) -> int:
    """Append one load's totals (country kind from ``totals``, HS4 kind from ``hs4``) to the history.

    ``tables`` maps the landed kind to a staged table (see ``warehouse.stage_month``).
    Re-recording a load replaces its rows, so a retried backfill never duplicates.
    """
    con.execute(HISTORY_SQL)
    con.execute("delete from raw.census_values_history where load_id = ?", [load_id])
    value = VALUE[flow]
    con.execute(
        f"""
        insert into raw.census_values_history
        select ?, ?, ?, month, 'country', partner_code, partner_name, summary_level, cast({value} as bigint)
        from {tables["totals"]}
        """,
        [load_id, flow, hs_level],
    )
    if tables.get("hs4"):
        con.execute(
            f"""
            insert into raw.census_values_history
            select ?, ?, ?, month, 'hs4', hs_code, hs_description, null, cast({value} as bigint)
            from {tables["hs4"]}
            """,
            [load_id, flow, hs_level],
        )
    return con.execute("select count(*) from raw.census_values_history where load_id = ?", [load_id]).fetchone()[0]


@dataclass(frozen=True)
class BackfillResult:
    """What a history backfill found: loads recorded, and loads whose landed files are gone."""

    recorded: list[str]
    missing: list[str]


def backfill(con: duckdb.DuckDBPyConnection, landing_dir: Path, hs_level: str) -> BackfillResult:
    """Record every loaded version that the history lacks, oldest load first, from its landed files.

    The versions are the ``loaded`` rows of ``audit.loads`` (a version that failed
    validation or was found unchanged never reached the marts); each names its landed
    files, which the landing zone keeps unchanged. The files are read with the loader's
    own reader (``warehouse._select_landed``), so a backfilled version is what was loaded.
    Files are found by name in ``landing_dir`` (names are content-addressed), so a data
    directory that moved since the load still resolves.
    """
    from trade_warehouse.load import warehouse

    con.execute(HISTORY_SQL)
    pending = con.execute(
        """
        select load_id, flow, strftime(month, '%Y-%m'), files from audit.loads
        where status = 'loaded' and hs_level = ?
          and load_id not in (select distinct load_id from raw.census_values_history)
        order by finished_at, load_id
        """,
        [hs_level],
    ).fetchall()
    recorded, missing = [], []
    manifests: dict[tuple[str, str], dict[str, LandedFile]] = {}
    for load_id, flow, month, files_json in pending:
        names = [Path(entry["path"]).name for entry in json.loads(files_json or "[]")]
        key = (flow, month)
        if key not in manifests:
            manifests[key] = {
                Path(entry.path).name: replace(
                    entry, path=str(month_dir(landing_dir, flow, hs_level, month) / Path(entry.path).name)
                )
                for entry in _read_manifest(landing_dir, flow, hs_level, month)
            }
        files = [manifests[key].get(name) for name in names]
        if not names or any(f is None or not Path(f.path).exists() for f in files):
            missing.append(load_id)
            continue
        suffix = load_id.replace("-", "")[:12]
        tables = {}
        for kind in ("totals", "hs4"):
            if any(f.kind == kind for f in files):
                tables[kind] = f"history_{kind}_{suffix}"
                con.execute(
                    f"create or replace temp table {tables[kind]} as "
                    + warehouse._select_landed(files, flow, kind, load_id, hs_level)
                )
        if "totals" not in tables:
            missing.append(load_id)
        else:
            con.execute("begin transaction")  # a load's country and HS4 rows land together or not at all
            try:
                record_version(con, load_id, flow, hs_level, tables)
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise
            recorded.append(load_id)
        for table in tables.values():
            con.execute(f"drop table if exists {table}")
    if missing:
        log.warning(
            "history backfill: %d loaded version(s) have no landed totals any more and stay out of the history: %s",
            len(missing),
            ", ".join(missing[:10]),
        )
    if recorded:
        log.info("history backfill: recorded %d loaded version(s) from the landing zone", len(recorded))
    return BackfillResult(recorded, missing)


def version_steps(con: duckdb.DuckDBPyConnection, hs_level: str) -> int:
    """The most versions any flow-month has: how many snapshot runs a replay needs."""
    con.execute(HISTORY_SQL)
    return con.execute(
        "select coalesce(max(n), 0) from (select count(distinct load_id) as n from raw.census_values_history "
        "where hs_level = ? and kind = 'country' group by flow, month)",
        [hs_level],
    ).fetchone()[0]


def replay_snapshot(settings: Settings) -> int:
    """Rebuild the snapshot from the history: drop it, then one ``dbt snapshot`` per version step.

    Step k shows each flow-month as its k-th version (or its last, if it has fewer), so
    every version passes through the snapshot in order; valid_from/valid_to come from the
    loads' own times, so the result is the snapshot that running after every load would
    have kept. The caller holds the writer lock (dbt runs as a child process).
    """
    from trade_warehouse.load import warehouse
    from trade_warehouse.transform import dbt_runner

    marker = replay_marker(settings)
    with warehouse.connect(settings.warehouse_path) as con:
        steps = version_steps(con, settings.hs_level)
        # until the last step succeeds the snapshot is incomplete: the marker makes the next build replay it
        marker.write_text(f"replay of {steps} step(s) started\n", encoding="utf-8")
        con.execute("create schema if not exists snapshots")
        con.execute(f"drop table if exists snapshots.{SNAPSHOT}")
    for step in range(1, steps + 1):  # the snapshot's input is a view: rebuild it with the step, then snapshot
        dbt_runner.run_dbt(
            settings,
            "build",
            "--select",
            SNAPSHOT_INPUT,
            SNAPSHOT,
            "--exclude-resource-type",
            "test",
            "--vars",
            json.dumps({"history_step": step}),
        )
    marker.unlink()
    log.info("replayed %d version step(s) into the snapshot %s", steps, SNAPSHOT)
    return steps


def replay_marker(settings: Settings) -> Path:
    """Present while a snapshot replay is unfinished (a crash or a failed dbt step leaves it)."""
    return settings.warehouse_path.with_name(settings.warehouse_path.name + ".snapshot-replay-pending")


def backfill_and_replay(settings: Settings) -> BackfillResult:
    """Before a build: record the loaded versions the history lacks; if any, replay the snapshot.

    A warehouse whose every load wrote its history does one query here and nothing else.
    """
    from trade_warehouse.load import warehouse

    with warehouse.connect(settings.warehouse_path) as con:
        result = backfill(con, settings.landing_dir, settings.hs_level)
    if result.recorded or replay_marker(settings).exists():
        replay_snapshot(settings)
    return result


# "As of" in the serving snapshot: trade_balance_annual as it was on a date, rebuilt from the
# published marts alone (so it works read-only): the months first published by then, each
# value as it stood then (the value before the first later revision, else the current one).
AS_OF_MACRO = """
create or replace macro marts.trade_balance_annual_as_of(as_of) as table
with published_months as (
    select month, partner_code
    from marts.trade_balance_vintages
    where first_published_at <= cast(as_of as timestamp)
),

current_values as (
    select
        published_months.month,
        published_months.partner_code,
        flows.flow,
        case flows.flow when 'exports' then coalesce(monthly.exports_usd, 0) else coalesce(monthly.imports_usd, 0) end
            as value_usd
    from published_months
    cross join (values ('exports'), ('imports')) as flows (flow)
    left join marts.trade_balance_monthly as monthly
        on monthly.month = published_months.month and monthly.partner_code = published_months.partner_code
),

later_revisions as (
    select month, partner_code, flow, arg_min(value_before_usd, revised_at) as value_usd
    from marts.trade_revisions_monthly
    where revised_at > cast(as_of as timestamp)
    group by month, partner_code, flow
),

monthly_as_of as (
    select
        current_values.month,
        current_values.partner_code,
        sum(coalesce(later_revisions.value_usd, current_values.value_usd))
            filter (where current_values.flow = 'exports') as exports_usd,
        sum(coalesce(later_revisions.value_usd, current_values.value_usd))
            filter (where current_values.flow = 'imports') as imports_usd
    from current_values
    left join later_revisions
        on later_revisions.month = current_values.month
        and later_revisions.partner_code = current_values.partner_code
        and later_revisions.flow = current_values.flow
    group by current_values.month, current_values.partner_code
    having exports_usd <> 0 or imports_usd <> 0
),

annual as (
    select
        year(month)::integer as year,
        partner_code,
        sum(exports_usd)::bigint as exports_usd,
        sum(imports_usd)::bigint as imports_usd,
        sum(exports_usd - imports_usd)::bigint as balance_usd,
        count(*)::integer as months_covered
    from monthly_as_of
    group by 1, 2
)

select
    annual.year,
    annual.partner_code,
    dim_partner.partner_name,
    dim_partner.partner_iso2,
    annual.exports_usd,
    annual.imports_usd,
    annual.balance_usd,
    annual.months_covered,
    case
        when annual.balance_usd < 0
            then rank() over (partition by annual.year, annual.balance_usd < 0 order by annual.balance_usd asc)
    end::integer as deficit_rank
from annual
left join marts.dim_partner as dim_partner on dim_partner.partner_code = annual.partner_code
"""


def create_as_of_macro(snapshot_path: Path) -> None:
    """Create ``marts.trade_balance_annual_as_of(ts)`` in a candidate serving snapshot.

    DuckDB binds a table macro's tables when it is created, relative to the connection's
    default database; so it is created over a direct connection to the candidate file
    (before it is renamed into service), and BI tools that open ``serving/trade.duckdb``
    call it as ``select * from marts.trade_balance_annual_as_of(timestamp '2017-06-01')``.
    """
    con = duckdb.connect(str(snapshot_path))
    try:
        con.execute(AS_OF_MACRO)
    finally:
        con.close()
