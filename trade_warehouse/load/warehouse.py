"""The writer's DuckDB database: connections, the writer lock, transactions, fingerprints, audit rows.

This is the only module that opens the warehouse read-write. DuckDB allows one writer
process per file, so every Airflow task that calls into it runs in the single-slot
``duckdb_writer`` pool. BI tools never open this file; they read the published snapshot.
With ``TRADE_WAREHOUSE_BACKEND=ducklake`` the warehouse is a DuckLake instead (``lake``):
:func:`open_writer` and :func:`exclusive` are the two calls that differ by backend.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import duckdb
from filelock import FileLock, Timeout

from trade_warehouse.core.config import Settings
from trade_warehouse.core.duckdb_settings import duckdb_memory_limit, duckdb_storage_version
from trade_warehouse.core.months import add_months
from trade_warehouse.load import lake
from trade_warehouse.load.audit import CURRENT_LOADS
from trade_warehouse.load.landing import LandedFile
from trade_warehouse.load.schema import SCHEMA_SQL

log = logging.getLogger(__name__)
T = TypeVar("T")


class LandingError(ValueError):
    """Landed files cannot be read as the table they should hold (terminal for that month)."""


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
    # the format of the files this connection creates: the warehouse on first use, and the
    # snapshots the publish attaches to it (existing files keep theirs)
    config["storage_compatibility_version"] = duckdb_storage_version()
    with writer_lock(path):
        con = duckdb.connect(str(path), config=config)
        try:
            con.execute(SCHEMA_SQL)
            yield con
        finally:
            con.close()


@contextmanager
def open_writer(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse, read-write, on the configured backend (the DuckDB file or the lake)."""
    if settings.backend == "ducklake":
        with lake.connect(settings) as con:
            yield con
        return
    with connect(settings.warehouse_path) as con:
        yield con


@contextmanager
def lane_connection(con: duckdb.DuckDBPyConnection, settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """A second connection to the writer's database, for a load lane running in another thread.

    DuckDB connections are not shared between threads, but connections of one database
    instance may write side by side: each keeps its own temp tables and transactions, and
    the lake's ``USE lake`` (a per-connection setting) is repeated here.
    """
    lane = con.cursor()
    try:
        if settings.backend == "ducklake":
            lane.execute(f"use {lake.ALIAS}")
        yield lane
    finally:
        lane.close()


@contextmanager
def open_reader(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse, read-only (``make status``): the file, or the lake attached read-only."""
    if settings.backend == "ducklake":
        with lake.connect(settings, read_only=True) as con:
            yield con
        return
    with connect(settings.warehouse_path, read_only=True) as con:
        yield con


@contextmanager
def exclusive(settings: Settings) -> Iterator[None]:
    """Hold off every other writer of the dbt build and publish: the file's writer lock, or the lake's."""
    if settings.backend == "ducklake":
        with lake.exclusive(settings):
            yield
        return
    with writer_lock(settings.warehouse_path):
        yield


def retry_on_conflict(action: Callable[[], T], what: str) -> T:
    """Run one whole transaction again when a concurrent lake writer's commit conflicted with it.

    A DuckDB file has one writer, so there it runs once; see ``lake.retry_on_conflict``.
    """
    return lake.retry_on_conflict(action, what)


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
        f"""
        select load_id, content_sha256, data_sha256 from ({CURRENT_LOADS})
        where flow = ? and hs_level = ? and month = ?::date
        """,
        [flow, hs_level, f"{month}-01"],
    ).fetchone()
    return CurrentLoad(*row) if row else None


NOT_DATA = ("load_id", "landed_file", "loaded_at")  # bookkeeping columns, different on every load


def data_fingerprint(con: duckdb.DuckDBPyConnection, tables: dict[str, str]) -> str:
    """One hash over the rows of a staged month, independent of row order and of files.

    A month fetched whole and the same month fetched in parts give the same fingerprint:
    nothing about a month's data may depend on how it arrived. Per row DuckDB's 64-bit
    ``hash`` of the columns, aggregated order-free (count, XOR and sum): no sort of the
    month's rows, and a sixth of the time the per-row MD5 of the rows' text took (0.04 s
    against 0.22 s for a full-scale month; make bench). A fingerprint only ever equals
    one of its own scheme (``h1:``): one from before (MD5), or after a DuckDB release that
    changed ``hash``, differs, and the month is reloaded once instead of kept.
    """
    digest = hashlib.sha256()
    for kind in sorted(tables):
        columns = [
            name
            for (name,) in con.execute("select column_name from (describe " + tables[kind] + ")").fetchall()
            if name not in NOT_DATA
        ]
        value = con.execute(
            f"""
            select count(*)::varchar || ':' || coalesce(bit_xor(h)::varchar, '')
                   || ':' || coalesce(sum(h::hugeint)::varchar, '')
            from (select hash({", ".join(columns)}) as h from {tables[kind]})
            """
        ).fetchone()[0]
        digest.update(f"{kind}:{value};".encode())
    return "h1:" + digest.hexdigest()


def insert_row(con: duckdb.DuckDBPyConnection, table: str, row: dict) -> None:
    """Insert one dict as one row; the keys name the columns (shared by both sources' audit tables)."""
    columns = ", ".join(row)
    placeholders = ", ".join("?" for _ in row)
    sql = f"insert into {table} ({columns}) values ({placeholders})"
    retry_on_conflict(lambda: con.execute(sql, list(row.values())), f"a row of {table}")


def insert_load_audit(con: duckdb.DuckDBPyConnection, row: dict) -> None:
    """One attempt to load a flow-month: written on completion, failures included."""
    insert_row(con, "audit.loads", row)


def insert_validation_audit(con: duckdb.DuckDBPyConnection, row: dict) -> None:
    """One suite's result for one load."""
    insert_row(
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
        f"""
        select strftime(month, '%Y-%m'), detail_rows from ({CURRENT_LOADS})
        where flow = ? and hs_level = ? and month < ?::date and month >= ?::date - interval 12 month
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
    insert_row(con, "audit.publishes", row)
