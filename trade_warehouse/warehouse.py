"""The writer's DuckDB database: raw tables, the month-replace primitive and audit tables.

This is the only module that opens the warehouse read-write. DuckDB allows one writer
process per file, so every Airflow task that calls into it runs in the single-slot
``duckdb_writer`` pool. BI tools never open this file; they read the published snapshot.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from trade_warehouse.landing import LandedFile

COMMODITY = {"exports": "E_COMMODITY", "imports": "I_COMMODITY"}
VALUE_COLUMNS = {
    "exports": {"ALL_VAL_MO": "all_value_usd"},
    "imports": {"GEN_VAL_MO": "gen_value_usd", "CON_VAL_MO": "con_value_usd"},
}

SCHEMA_SQL = """
create schema if not exists raw;
create schema if not exists audit;
create table if not exists raw.census_exports_hs (
    load_id varchar not null, source varchar not null, month date not null, hs_level varchar not null,
    partner_code varchar not null, partner_name varchar, hs_code varchar not null, hs_description varchar,
    all_value_usd bigint not null, landed_file varchar not null, loaded_at timestamp not null
);
create table if not exists raw.census_imports_hs (
    load_id varchar not null, source varchar not null, month date not null, hs_level varchar not null,
    partner_code varchar not null, partner_name varchar, hs_code varchar not null, hs_description varchar,
    gen_value_usd bigint not null, con_value_usd bigint not null, landed_file varchar not null,
    loaded_at timestamp not null
);
create table if not exists raw.census_exports_totals (
    load_id varchar not null, source varchar not null, month date not null, hs_level varchar not null,
    partner_code varchar not null, partner_name varchar, summary_level varchar,
    all_value_usd bigint not null, landed_file varchar not null, loaded_at timestamp not null
);
create table if not exists raw.census_imports_totals (
    load_id varchar not null, source varchar not null, month date not null, hs_level varchar not null,
    partner_code varchar not null, partner_name varchar, summary_level varchar,
    gen_value_usd bigint not null, con_value_usd bigint not null, landed_file varchar not null,
    loaded_at timestamp not null
);
create table if not exists audit.loads (
    load_id varchar primary key, run_id varchar, flow varchar not null, hs_level varchar not null,
    month date not null, source varchar, content_sha256 varchar, files varchar, detail_rows bigint,
    totals_rows bigint, status varchar not null, error varchar, started_at timestamp, finished_at timestamp,
    duration_s double
);
create table if not exists audit.validations (
    validation_id varchar primary key, load_id varchar, run_id varchar, flow varchar, hs_level varchar,
    month date, suite varchar, success boolean, evaluated bigint, failed bigint,
    failed_expectations varchar, details varchar, validated_at timestamp
);
create table if not exists audit.publishes (
    publish_id varchar primary key, run_id varchar, published_at timestamp, fingerprint varchar,
    months bigint, first_month date, last_month date, row_counts varchar, checksum varchar,
    serving_path varchar, status varchar
);
"""


class LandingError(ValueError):
    """Landed files cannot be read as the table they should hold (terminal for that month)."""


def raw_table(flow: str, kind: str) -> str:
    return f"raw.census_{flow}_{'hs' if kind == 'detail' else 'totals'}"


class WriterBusyError(RuntimeError):
    """Another process kept the warehouse writer lock longer than we were willing to wait."""


@contextmanager
def writer_lock(path: Path, timeout_s: float = 3600.0) -> Iterator[None]:
    """Hold the warehouse's writer lock (an OS file lock beside the database).

    DuckDB refuses a second read-write process outright. Airflow's single-slot pool
    orders our own tasks; this lock also orders writers the pool cannot see (a
    ``make backfill`` next to a running Airflow, two Airflow installations). Waiting
    writers queue instead of failing. Re-entrant within a process.
    """
    lock_path = Path(str(path) + ".writer.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    key = str(lock_path.resolve())
    if _held_locks.get(key):
        _held_locks[key] += 1
        try:
            yield
        finally:
            _held_locks[key] -= 1
        return
    handle = open(lock_path, "a+")  # noqa: SIM115 - closed in finally
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise WriterBusyError(
                        f"another process has held the warehouse writer lock {lock_path} for over "
                        f"{timeout_s:.0f}s; is a load stuck?"
                    ) from None
                time.sleep(0.5)
        _held_locks[key] = 1
        try:
            yield
        finally:
            _held_locks.pop(key, None)
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()


_held_locks: dict[str, int] = {}


@contextmanager
def connect(path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse, creating it (and its schema) on first use.

    Read-write opens take the writer lock first (see :func:`writer_lock`).
    """
    path = Path(path)
    if read_only:
        con = duckdb.connect(str(path), read_only=True)
        try:
            yield con
        finally:
            con.close()
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with writer_lock(path):
        con = duckdb.connect(str(path))
        try:
            con.execute(SCHEMA_SQL)
            yield con
        finally:
            con.close()


def content_fingerprint(files: list[LandedFile]) -> str:
    """One hash over the landed files of a month: equal fingerprints mean identical data."""
    joined = "|".join(sorted(f"{f.kind}:{f.part}:{f.sha256}" for f in files))
    return hashlib.sha256(joined.encode()).hexdigest()


def current_load(con: duckdb.DuckDBPyConnection, flow: str, hs_level: str, month: str) -> tuple[str, str] | None:
    """(load_id, content_sha256) of the version of a month the raw tables hold now."""
    row = con.execute(
        """
        select load_id, content_sha256 from audit.loads
        where flow = ? and hs_level = ? and month = ?::date and status = 'loaded'
        order by finished_at desc limit 1
        """,
        [flow, hs_level, f"{month}-01"],
    ).fetchone()
    return (row[0], row[1]) if row else None


def _select_landed(files: list[LandedFile], flow: str, kind: str, load_id: str, hs_level: str) -> str:
    """SQL that reads landed JSON tables with DuckDB's reader and types the columns."""
    chosen = [f for f in files if f.kind == kind]
    if not chosen:
        raise LandingError(f"no landed {kind} file for {flow} {files[0].month}")
    header = chosen[0].header
    required = ["CTY_CODE", "CTY_NAME", "time", *VALUE_COLUMNS[flow]]
    required += ([COMMODITY[flow], COMMODITY[flow] + "_LDESC"] if kind == "detail" else ["SUMMARY_LVL"])
    missing = [name for name in required if name not in header]
    if missing:
        raise LandingError(f"landed {kind} file {Path(chosen[0].path).name} lacks columns {missing} (header {header})")
    position = {name: index + 1 for index, name in enumerate(header)}  # DuckDB lists are 1-based
    for other in chosen[1:]:
        if other.header != header:
            raise ValueError(f"landed parts of {flow} {kind} have different headers: {header} vs {other.header}")
    paths = ", ".join("'" + f.path.replace("'", "''") + "'" for f in chosen)
    header_literal = "[" + ", ".join("'" + h + "'" for h in header) + "]"
    sources = {f.source for f in chosen}
    source = "census-emulator" if "census-emulator" in sources else "census"
    # values stay strings here: the GX gate reports a bad value by its text, the swap casts
    values = ",\n        ".join(f"json[{position[api]}] as {column}" for api, column in VALUE_COLUMNS[flow].items())
    if kind == "detail":
        commodity = COMMODITY[flow]
        dims = f"""json[{position[commodity]}] as hs_code,
        json[{position[commodity + '_LDESC']}] as hs_description,"""
    else:
        dims = f"json[{position['SUMMARY_LVL']}] as summary_level,"
    # the raw zone keeps the header names' hints; the manifest keeps the header itself
    file_name = "regexp_extract(filename, '[^/]+$')"
    return f"""
    select
        '{load_id}' as load_id,
        '{source}' as source,
        cast(json[{position['time']}] || '-01' as date) as month,
        '{hs_level}' as hs_level,
        json[{position['CTY_CODE']}] as partner_code,
        json[{position['CTY_NAME']}] as partner_name,
        {dims}
        {values},
        {file_name} as landed_file,
        now()::timestamp as loaded_at
    from read_json([{paths}], format = 'array', records = false,
                   columns = {{'json': 'VARCHAR[]'}}, filename = true)
    where json <> {header_literal}
    """


@dataclass
class StagedMonth:
    load_id: str
    flow: str
    hs_level: str
    month: str
    fingerprint: str
    detail_table: str
    totals_table: str
    detail_rows: int
    totals_rows: int
    source: str


def stage_month(con: duckdb.DuckDBPyConnection, files: list[LandedFile], load_id: str) -> StagedMonth:
    """Read a month's landed files into temp tables, typed, without touching raw tables."""
    first = files[0]
    flow, hs_level, month = first.flow, first.hs_level, first.month
    suffix = load_id.replace("-", "")[:12]
    detail_table, totals_table = f"stage_detail_{suffix}", f"stage_totals_{suffix}"
    con.execute(f"create or replace temp table {detail_table} as {_select_landed(files, flow, 'detail', load_id, hs_level)}")
    con.execute(f"create or replace temp table {totals_table} as {_select_landed(files, flow, 'totals', load_id, hs_level)}")
    detail_rows = con.execute(f"select count(*) from {detail_table}").fetchone()[0]
    totals_rows = con.execute(f"select count(*) from {totals_table}").fetchone()[0]
    sources = {f.source for f in files}
    return StagedMonth(
        load_id=load_id,
        flow=flow,
        hs_level=hs_level,
        month=month,
        fingerprint=content_fingerprint(files),
        detail_table=detail_table,
        totals_table=totals_table,
        detail_rows=detail_rows,
        totals_rows=totals_rows,
        source="census-emulator" if "census-emulator" in sources else "census",
    )


def drop_stage(con: duckdb.DuckDBPyConnection, staged: StagedMonth) -> None:
    con.execute(f"drop table if exists {staged.detail_table}")
    con.execute(f"drop table if exists {staged.totals_table}")


def replace_month(con: duckdb.DuckDBPyConnection, staged: StagedMonth, audit_row: dict) -> None:
    """Swap the staged month in for the loaded one, with its audit row, in one transaction.

    Delete + insert + audit commit together: readers of the warehouse see the old version
    or the new one, never both or neither, and a crash rolls back to the old version.
    """
    month_date = f"{staged.month}-01"
    con.execute("begin transaction")
    try:
        for kind, table in (("detail", staged.detail_table), ("totals", staged.totals_table)):
            target = raw_table(staged.flow, kind)
            con.execute(f"delete from {target} where month = ?::date and hs_level = ?", [month_date, staged.hs_level])
            casts = ", ".join(f"cast({c} as bigint) as {c}" for c in VALUE_COLUMNS[staged.flow].values())
            con.execute(f"insert into {target} by name select * replace ({casts}) from {table}")
        insert_load_audit(con, audit_row)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def _insert_row(con: duckdb.DuckDBPyConnection, table: str, row: dict) -> None:
    columns = ", ".join(row)
    placeholders = ", ".join("?" for _ in row)
    con.execute(f"insert into {table} ({columns}) values ({placeholders})", list(row.values()))


def insert_load_audit(con: duckdb.DuckDBPyConnection, row: dict) -> None:
    """One attempt to load a flow-month: written on completion, failures included."""
    _insert_row(con, "audit.loads", row)


def insert_validation_audit(con: duckdb.DuckDBPyConnection, row: dict) -> None:
    """One suite's result for one load."""
    _insert_row(con, "audit.validations",
                {"validation_id": str(uuid.uuid4()), "validated_at": datetime.now(UTC).replace(tzinfo=None), **row})


def trailing_row_counts(con: duckdb.DuckDBPyConnection, flow: str, hs_level: str, month: str, count: int = 6) -> list[int]:
    """Detail row counts of the loaded months just before ``month`` (for the row-count band)."""
    rows = con.execute(
        """
        select detail_rows from (
            select month, detail_rows, row_number() over (partition by month order by finished_at desc) as rn
            from audit.loads
            where flow = ? and hs_level = ? and status = 'loaded' and month < ?::date
              and month >= ?::date - interval 12 month
        ) where rn = 1 order by month desc limit ?
        """,
        [flow, hs_level, f"{month}-01", f"{month}-01", count],
    ).fetchall()
    return [r[0] for r in rows]


def as_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def insert_publish_audit(con: duckdb.DuckDBPyConnection, row: dict) -> None:
    """What one publish put in front of readers."""
    _insert_row(con, "audit.publishes", row)
