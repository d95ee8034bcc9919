"""The writer's DuckDB database: raw tables, the month-replace primitive and audit tables.

This is the only module that opens the warehouse read-write. DuckDB allows one writer
process per file, so every Airflow task that calls into it runs in the single-slot
``duckdb_writer`` pool. BI tools never open this file; they read the published snapshot.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from filelock import FileLock, Timeout

from trade_warehouse.core.config import duckdb_memory_limit
from trade_warehouse.core.months import add_months
from trade_warehouse.load.landing import LandedFile
from trade_warehouse.sources.census import history
from trade_warehouse.sources.census.api import COMMODITY_VAR, VALUE_COLUMNS, collapse_repeats

log = logging.getLogger(__name__)


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
create table if not exists raw.census_exports_hs4_totals (
    load_id varchar not null, source varchar not null, month date not null, hs_level varchar not null,
    hs_code varchar not null, hs_description varchar, all_value_usd bigint not null,
    landed_file varchar not null, loaded_at timestamp not null
);
create table if not exists raw.census_imports_hs4_totals (
    load_id varchar not null, source varchar not null, month date not null, hs_level varchar not null,
    hs_code varchar not null, hs_description varchar, gen_value_usd bigint not null, con_value_usd bigint not null,
    landed_file varchar not null, loaded_at timestamp not null
);
create table if not exists audit.loads (
    load_id varchar primary key, run_id varchar, flow varchar not null, hs_level varchar not null,
    month date not null, source varchar, content_sha256 varchar, files varchar, detail_rows bigint,
    totals_rows bigint, status varchar not null, error varchar, started_at timestamp, finished_at timestamp,
    duration_s double
);
alter table audit.loads add column if not exists data_sha256 varchar;
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
-- what the published marts were built with (transform.scope_fingerprint): a build on top of
-- a publish with the same value rebuilds and re-publishes only the months loaded since
alter table audit.publishes add column if not exists scope_fingerprint varchar;
"""


# UN Comtrade (mirror statistics, trade_warehouse/comtrade.py): the partners' own monthly
# reports of trade with the U.S., one load per landed year; validations go to audit.validations.
SCHEMA_SQL += """
create table if not exists raw.comtrade_monthly (
    load_id varchar not null, source varchar not null, year integer not null, month date not null,
    reporter_code varchar not null, reporter_iso varchar, reporter_name varchar, flow_code varchar not null,
    partner_code varchar not null, partner2_code varchar not null, cmd_code varchar not null,
    customs_code varchar not null, mot_code varchar not null, primary_value_usd double not null,
    cif_value_usd double, fob_value_usd double, is_reported boolean, landed_file varchar not null,
    loaded_at timestamp not null
);
create table if not exists audit.comtrade_loads (
    load_id varchar primary key, run_id varchar, year integer not null, reporters varchar, source varchar,
    content_sha256 varchar, data_sha256 varchar, files varchar, rows bigint, status varchar not null,
    error varchar, started_at timestamp, finished_at timestamp, duration_s double
);
"""


class LandingError(ValueError):
    """Landed files cannot be read as the table they should hold (terminal for that month)."""


RAW_SUFFIX = {"detail": "hs", "totals": "totals", "hs4": "hs4_totals"}


def raw_table(flow: str, kind: str) -> str:
    """The raw table a landed kind loads into: detail -> hs, totals, hs4 -> hs4_totals."""
    return f"raw.census_{flow}_{RAW_SUFFIX[kind]}"


class WriterBusyError(RuntimeError):
    """Another process kept the warehouse writer lock longer than we were willing to wait."""


@contextmanager
def writer_lock(path: Path, timeout_s: float = 3600.0) -> Iterator[None]:
    """Hold the warehouse's writer lock (an OS file lock beside the database, via filelock).

    DuckDB refuses a second read-write process outright. Airflow's single-slot pool
    orders our own tasks; this lock also orders writers the pool cannot see (a
    ``make backfill`` next to a running Airflow, two Airflow installations). Waiting
    writers queue instead of failing. Re-entrant within a process (any thread), so the
    publish step can hold it across dbt and the snapshot copy.
    """
    lock_path = Path(str(path) + ".writer.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with _locks_guard:
        lock = _locks.setdefault(str(lock_path.resolve()), FileLock(lock_path, thread_local=False))
    try:
        lock.acquire(timeout=0)
    except Timeout:  # say why the task is idle: another writer has the warehouse
        log.info("waiting for the warehouse writer lock %s: another writer holds it", lock_path)
        try:
            lock.acquire(timeout=timeout_s, poll_interval=0.5)
        except Timeout:
            raise WriterBusyError(
                f"another process has held the warehouse writer lock {lock_path} for over {timeout_s:.0f}s; "
                "is a load stuck?"
            ) from None
    try:
        yield
    finally:
        lock.release()


_locks: dict[str, FileLock] = {}
_locks_guard = threading.Lock()


@contextmanager
def connect(path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse, creating it (and its schema) on first use.

    Read-write opens take the writer lock first (see :func:`writer_lock`).
    """
    path = Path(path)
    config = {"memory_limit": duckdb_memory_limit()}
    if read_only:
        con = duckdb.connect(str(path), read_only=True, config=config)
        try:
            yield con
        finally:
            con.close()
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with writer_lock(path):
        con = duckdb.connect(str(path), config=config)
        try:
            con.execute(SCHEMA_SQL)
            yield con
        finally:
            con.close()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One explicit transaction: committed when the block ends, rolled back if it raises.

    Why one helper: every swap (a month, a Comtrade year, a history backfill) must leave
    readers the old version or the new one, never half of each, and a crash or a failed
    statement must roll back; written once, no caller can forget the rollback.
    """
    con.execute("begin transaction")
    try:
        yield con
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def content_fingerprint(files: list[LandedFile]) -> str:
    """One hash over the landed files of a month: equal fingerprints mean identical data."""
    joined = "|".join(sorted(f"{f.kind}:{f.part}:{f.sha256}" for f in files))
    return hashlib.sha256(joined.encode()).hexdigest()


@dataclass(frozen=True)
class CurrentLoad:
    """The version of a month the raw tables hold now."""

    load_id: str
    content_sha256: str | None  # of the landed files
    data_sha256: str | None  # of the rows they hold (None for loads made before it was recorded)


def current_load(con: duckdb.DuckDBPyConnection, flow: str, hs_level: str, month: str) -> CurrentLoad | None:
    """The load of a month the raw tables hold now, with its file and data fingerprints."""
    row = con.execute(
        """
        select load_id, content_sha256, data_sha256 from audit.loads
        where flow = ? and hs_level = ? and month = ?::date and status = 'loaded'
        order by finished_at desc limit 1
        """,
        [flow, hs_level, f"{month}-01"],
    ).fetchone()
    return CurrentLoad(*row) if row else None


NOT_DATA = ("load_id", "landed_file", "loaded_at")  # bookkeeping columns, different on every load


def data_fingerprint(con: duckdb.DuckDBPyConnection, tables: dict[str, str]) -> str:
    """One hash over the rows of a staged month, independent of row order and of files.

    A month fetched whole and the same month fetched in parts give the same fingerprint:
    nothing about a month's data may depend on how it arrived.
    """
    digest = hashlib.sha256()
    for kind in sorted(tables):
        columns = [
            name
            for (name,) in con.execute("select column_name from (describe " + tables[kind] + ")").fetchall()
            if name not in NOT_DATA
        ]
        row_text = "concat_ws(chr(31), " + ", ".join(f"coalesce({c}::varchar, chr(0))" for c in columns) + ")"
        # an order-free aggregate of per-row MD5s (count, XOR and sum of the low halves):
        # no sort of the month's rows, which cost more than reading them
        value = con.execute(
            f"""
            select count(*)::varchar || ':' || coalesce(bit_xor(md5_number(r))::varchar, '')
                   || ':' || coalesce(sum(md5_number_lower(r)::hugeint)::varchar, '')
            from (select {row_text} as r from {tables[kind]})
            """
        ).fetchone()[0]
        digest.update(f"{kind}:{value};".encode())
    return digest.hexdigest()


def served_header(path: str | Path) -> list[str]:
    """The header row actually in a landed file's bytes (the first element of its JSON array).

    Only the start of the file is decompressed: the header is the first array element.
    """
    decoder = json.JSONDecoder()
    text = ""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        while True:
            chunk = handle.read(65536)
            text += chunk
            start = text.find("[")
            if start >= 0:
                second = text.find("[", start + 1)
                if second >= 0:
                    try:
                        header, _ = decoder.raw_decode(text, second)
                        break
                    except json.JSONDecodeError:
                        pass
            if not chunk:
                raise LandingError(f"landed file {Path(path).name} has no header row")
    if not isinstance(header, list) or not all(isinstance(name, str) for name in header):
        raise LandingError(f"landed file {Path(path).name} does not start with a header row of column names")
    return header


REQUIRED_COLUMNS = {
    "detail": lambda flow: ["CTY_CODE", "CTY_NAME", "time", COMMODITY_VAR[flow], COMMODITY_VAR[flow] + "_LDESC"],
    "totals": lambda flow: ["CTY_CODE", "CTY_NAME", "time", "SUMMARY_LVL"],
    "hs4": lambda flow: ["time", COMMODITY_VAR[flow], COMMODITY_VAR[flow] + "_LDESC"],
}


def _select_landed(files: list[LandedFile], flow: str, kind: str, load_id: str, hs_level: str) -> str:
    """SQL that reads landed JSON tables with DuckDB's reader and types the columns.

    Every file is read by the header in its own bytes (never by a position remembered
    elsewhere): a split part's header carries the commodity predicate as an extra column.
    Files with the same header are read together; all parts must share one layout, and
    a part that does not is named.
    """
    chosen = [f for f in files if f.kind == kind]
    if not chosen:
        raise LandingError(f"no landed {kind} file for {flow} {files[0].month}")
    headers = {f.path: served_header(f.path) for f in chosen}
    reference = chosen[0]
    for other in chosen[1:]:
        if collapse_repeats(headers[other.path]) != collapse_repeats(headers[reference.path]):
            raise LandingError(
                f"landed part {other.part} of {flow} {other.month} {kind} ({Path(other.path).name}) has columns "
                f"{headers[other.path]}, but part {reference.part} ({Path(reference.path).name}) has "
                f"{headers[reference.path]}: all parts of a month must share one layout"
            )
    required = REQUIRED_COLUMNS[kind](flow) + list(VALUE_COLUMNS[flow])
    missing = [name for name in required if name not in headers[reference.path]]
    if missing:
        raise LandingError(
            f"landed {kind} file {Path(reference.path).name} lacks columns {missing} (header {headers[reference.path]})"
        )
    sources = {f.source for f in chosen}
    source = "census-emulator" if "census-emulator" in sources else "census"
    by_header: dict[tuple[str, ...], list[LandedFile]] = {}
    for landed in chosen:
        by_header.setdefault(tuple(headers[landed.path]), []).append(landed)
    selects = [
        _select_layout(list(header), group, flow, kind, load_id, hs_level, source)
        for header, group in by_header.items()
    ]
    return "\n    union all\n".join(selects)


def _select_layout(
    header: list[str], files: list[LandedFile], flow: str, kind: str, load_id: str, hs_level: str, source: str
) -> str:
    """One read_json over files that share exactly one header."""
    position = {name: index + 1 for index, name in reversed(list(enumerate(header)))}  # first occurrence, 1-based
    paths = ", ".join("'" + f.path.replace("'", "''") + "'" for f in files)
    header_literal = "[" + ", ".join("'" + h.replace("'", "''") + "'" for h in header) + "]"
    # values stay strings here: the GX gate reports a bad value by its text, the swap casts
    values = ",\n        ".join(f"json[{position[api]}] as {column}" for api, column in VALUE_COLUMNS[flow].items())
    commodity = COMMODITY_VAR[flow]
    if kind == "detail":
        dims = f"""json[{position["CTY_CODE"]}] as partner_code,
        json[{position["CTY_NAME"]}] as partner_name,
        json[{position[commodity]}] as hs_code,
        json[{position[commodity + "_LDESC"]}] as hs_description,"""
    elif kind == "totals":
        dims = f"""json[{position["CTY_CODE"]}] as partner_code,
        json[{position["CTY_NAME"]}] as partner_name,
        json[{position["SUMMARY_LVL"]}] as summary_level,"""
    else:
        dims = f"""json[{position[commodity]}] as hs_code,
        json[{position[commodity + "_LDESC"]}] as hs_description,"""
    return f"""
    select
        '{load_id}' as load_id,
        '{source}' as source,
        cast(json[{position["time"]}] || '-01' as date) as month,
        '{hs_level}' as hs_level,
        {dims}
        {values},
        regexp_extract(filename, '[^/]+$') as landed_file,
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
    hs4_table: str | None = None  # world x HS4 totals; None for months landed before they were extracted
    hs4_rows: int = 0
    data_sha256: str = ""  # see data_fingerprint

    def tables(self) -> dict[str, str]:
        """Staged temp table per landed kind."""
        tables = {"detail": self.detail_table, "totals": self.totals_table}
        if self.hs4_table:
            tables["hs4"] = self.hs4_table
        return tables


def stage_month(con: duckdb.DuckDBPyConnection, files: list[LandedFile], load_id: str) -> StagedMonth:
    """Read a month's landed files into temp tables, typed, without touching raw tables.

    Every file's data rows are counted against its manifest row count, so a file read
    with the wrong layout (or a truncated one) cannot slip through.
    """
    first = files[0]
    flow, hs_level, month = first.flow, first.hs_level, first.month
    suffix = load_id.replace("-", "")[:12]
    kinds = ["detail", "totals"] + (["hs4"] if any(f.kind == "hs4" for f in files) else [])
    tables = {kind: f"stage_{kind}_{suffix}" for kind in kinds}
    counts = {}
    expected = {Path(f.path).name: f.row_count for f in files}
    for kind, table in tables.items():
        con.execute(f"create or replace temp table {table} as {_select_landed(files, flow, kind, load_id, hs_level)}")
        per_file = dict(con.execute(f"select landed_file, count(*) from {table} group by 1").fetchall())
        for landed in (f for f in files if f.kind == kind):
            name = Path(landed.path).name
            if per_file.get(name, 0) != expected[name]:
                raise LandingError(
                    f"landed file {name} ({flow} {month} {kind}) has {per_file.get(name, 0)} data rows "
                    f"but the manifest recorded {expected[name]}"
                )
        counts[kind] = sum(per_file.values())
    sources = {f.source for f in files}
    data_sha256 = data_fingerprint(con, tables)
    return StagedMonth(
        load_id=load_id,
        flow=flow,
        hs_level=hs_level,
        month=month,
        fingerprint=content_fingerprint(files),
        detail_table=tables["detail"],
        totals_table=tables["totals"],
        detail_rows=counts["detail"],
        totals_rows=counts["totals"],
        source="census-emulator" if "census-emulator" in sources else "census",
        hs4_table=tables.get("hs4"),
        hs4_rows=counts.get("hs4", 0),
        data_sha256=data_sha256,
    )


def drop_stage(con: duckdb.DuckDBPyConnection, staged: StagedMonth) -> None:
    for table in staged.tables().values():
        con.execute(f"drop table if exists {table}")


def replace_month(con: duckdb.DuckDBPyConnection, staged: StagedMonth, audit_row: dict) -> None:
    """Swap the staged month in for the loaded one, with its audit row, in one transaction.

    Delete + insert + audit commit together: readers of the warehouse see the old version
    or the new one, never both or neither, and a crash rolls back to the old version.
    """
    month_date = f"{staged.month}-01"
    con.execute("begin transaction")
    try:
        tables = staged.tables()
        for kind in RAW_SUFFIX:  # a month without HS4 totals (landed before they existed) loses stale ones
            target = raw_table(staged.flow, kind)
            con.execute(f"delete from {target} where month = ?::date and hs_level = ?", [month_date, staged.hs_level])
            if kind in tables:
                casts = ", ".join(f"cast({c} as bigint) as {c}" for c in VALUE_COLUMNS[staged.flow].values())
                con.execute(f"insert into {target} by name select * replace ({casts}) from {tables[kind]}")
        history.record_version(con, staged.load_id, staged.flow, staged.hs_level, tables)  # the vintage history
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
    _insert_row(
        con,
        "audit.validations",
        {"validation_id": str(uuid.uuid4()), "validated_at": datetime.now(UTC).replace(tzinfo=None), **row},
    )


def trailing_row_counts(
    con: duckdb.DuckDBPyConnection,
    flow: str,
    hs_level: str,
    month: str,
    count: int = 6,
    pending: dict[str, int] | None = None,
) -> list[int]:
    """Detail row counts of the months just before ``month`` (for the row-count band), newest first.

    The loaded months of the last year, overlaid with ``pending`` ('YYYY-MM' -> rows: months
    staged before this one in the same batch, not loaded yet).
    """
    rows = con.execute(
        """
        select strftime(month, '%Y-%m'), detail_rows from (
            select month, detail_rows, row_number() over (partition by month order by finished_at desc) as rn
            from audit.loads
            where flow = ? and hs_level = ? and status = 'loaded' and month < ?::date
              and month >= ?::date - interval 12 month
        ) where rn = 1
        """,
        [flow, hs_level, f"{month}-01", f"{month}-01"],
    ).fetchall()
    counts = dict(rows)
    earliest = add_months(month, -12)
    counts.update({m: n for m, n in (pending or {}).items() if earliest <= m < month})
    return [counts[m] for m in sorted(counts, reverse=True)[:count]]


def as_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def insert_publish_audit(con: duckdb.DuckDBPyConnection, row: dict) -> None:
    """What one publish put in front of readers."""
    _insert_row(con, "audit.publishes", row)
