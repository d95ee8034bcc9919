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

from trade_warehouse.load.landing import LandedFile, month_dir, read_manifest
from trade_warehouse.load.warehouse import retry_on_conflict, transaction
from trade_warehouse.sources.census.reader import select_landed

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


def ensure_history_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create the history table if it is missing, outside any swap.

    Two load lanes that both created it inside their swap transactions would conflict on
    the catalog at commit (seen on a fresh warehouse), and one swap would be redone.
    """
    con.execute(HISTORY_SQL)


def record_version(
    con: duckdb.DuckDBPyConnection, load_id: str, flow: str, hs_level: str, tables: dict[str, str]
) -> int:
    """Append one load's totals (country kind from ``totals``, HS4 kind from ``hs4``) to the history.

    ``tables`` maps the landed kind to a staged table (see ``reader.stage_month``).
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
    own reader (``reader.select_landed``), so a backfilled version is what was loaded.
    Files are found by name in ``landing_dir`` (names are content-addressed), so a data
    directory that moved since the load still resolves.
    """
    con.execute(HISTORY_SQL)
    pending = con.execute(
        """
        select load_id, flow, strftime(month, '%Y-%m'), files from audit.loads
        where status = 'loaded' and hs_level = ? and flow in ('exports', 'imports')
          and load_id not in (select distinct load_id from raw.census_values_history)
        order by finished_at, load_id
        """,
        [hs_level],
    ).fetchall()
    recorded, missing = [], []
    manifests: dict[tuple[str, str], dict[str, LandedFile]] = {}
    for load_id, flow, month, files_json in pending:
        if (flow, month) not in manifests:
            manifests[(flow, month)] = _manifest_by_name(landing_dir, flow, hs_level, month)
        names = [Path(entry["path"]).name for entry in json.loads(files_json or "[]")]
        files = [manifests[(flow, month)].get(name) for name in names]
        if names and all(f is not None and Path(f.path).exists() for f in files):
            done = _record_from_landing(con, load_id, flow, hs_level, files)
        else:
            done = False
        (recorded if done else missing).append(load_id)
    if missing:
        log.warning(
            "history backfill: %d loaded version(s) have no landed totals any more and stay out of the history: %s",
            len(missing),
            ", ".join(missing[:10]),
        )
    if recorded:
        log.info("history backfill: recorded %d loaded version(s) from the landing zone", len(recorded))
    return BackfillResult(recorded, missing)


def _manifest_by_name(landing_dir: Path, flow: str, hs_level: str, month: str) -> dict[str, LandedFile]:
    """A month's manifest rows by file name, each pointing into ``landing_dir`` as it is now."""
    directory = month_dir(landing_dir, flow, hs_level, month)
    return {
        Path(entry.path).name: replace(entry, path=str(directory / Path(entry.path).name))
        for entry in read_manifest(landing_dir, flow, hs_level, month)
    }


def _record_from_landing(
    con: duckdb.DuckDBPyConnection, load_id: str, flow: str, hs_level: str, files: list[LandedFile]
) -> bool:
    """Read one load's totals (and HS4 totals) from its landed files and record them; False if no totals."""
    suffix = load_id.replace("-", "")[:12]
    tables = {}
    try:
        for kind in ("totals", "hs4"):
            if any(f.kind == kind for f in files):
                tables[kind] = f"history_{kind}_{suffix}"
                select = select_landed(files, flow, kind, load_id, hs_level)
                con.execute(f"create or replace temp table {tables[kind]} as {select}")
        if "totals" not in tables:
            return False

        def record() -> None:
            with transaction(con):  # a load's country and HS4 rows land together or not at all
                record_version(con, load_id, flow, hs_level, tables)

        retry_on_conflict(record, f"the history of load {load_id}")
        return True
    finally:
        for table in tables.values():
            con.execute(f"drop table if exists {table}")


def version_steps(con: duckdb.DuckDBPyConnection, hs_level: str) -> int:
    """The most versions any flow-month has: how many snapshot runs a replay needs."""
    con.execute(HISTORY_SQL)
    return con.execute(
        "select coalesce(max(n), 0) from (select count(distinct load_id) as n from raw.census_values_history "
        "where hs_level = ? and kind = 'country' group by flow, month)",
        [hs_level],
    ).fetchone()[0]
