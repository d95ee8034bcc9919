"""The DuckLake backend: the warehouse as a catalog in PostgreSQL and Parquet files in object storage.

Why a second backend: one DuckDB file allows one writer process on one host and must be on
every reader's disk. A DuckLake warehouse keeps its catalog in a SQL database and its data
as Parquet under ``TRADE_DUCKLAKE_DATA_PATH`` (S3 or a directory): writers and readers on
any host, snapshot isolation, multi-table commits, time travel. This module opens it:

- the DuckDB extensions come from their PyPI wheels (``duckdb-extension-*``), installed into
  a project-owned directory; nothing is ever downloaded at run time;
- a bad setting fails with the setting's name *before* anything is written: the storage is
  probed first, then the catalog attached;
- :func:`retry_on_conflict` re-runs a transaction another writer's commit conflicted with;
- :func:`exclusive` orders the dbt build and publish across hosts (a PostgreSQL advisory lock).

The catalog is attached as ``lake`` and made the default, so the pipeline's SQL
(``raw.…``, ``audit.…``, ``marts.…``) runs unchanged on both backends.
"""

from __future__ import annotations

import importlib.util
import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import duckdb
from filelock import FileLock, Timeout

from trade_warehouse.core.config import LakeSettings, Settings
from trade_warehouse.core.duckdb_settings import duckdb_memory_limit
from trade_warehouse.core.errors import TerminalError
from trade_warehouse.load.schema import lake_schema_sql

log = logging.getLogger(__name__)
T = TypeVar("T")

ALIAS = "lake"  # the attach name: readers' SQL says lake.marts.… or, after USE lake, marts.…
EXTENSIONS = ("postgres_scanner", "httpfs", "ducklake")
# dbt builds the marts here; the publish moves checked months into `marts`, which readers see
BUILD_MARTS_SCHEMA = "marts_build"
CONFLICT_ATTEMPTS = 8
PUBLISH_LOCK_KEY = 0x7472616465  # pg_advisory_lock key of the dbt build + publish ('trade')
CREATE_LOCK_KEY = 0x74726164656C  # pg_advisory_lock key of creating the lake and its tables ('tradel')


class LakeError(TerminalError):
    """A DuckLake setting does not work (catalog, storage, credentials, extensions); names the setting."""


def extension_directory(settings: Settings) -> Path:
    """The project-owned DuckDB extension directory (not ~/.duckdb: the wheels' versions, nobody else's)."""
    return settings.data_dir / "duckdb_extensions"


def install_extensions(directory: Path) -> None:
    """Install the extensions from their wheels into ``directory`` (a no-op once installed)."""
    version = duckdb.__version__
    con = duckdb.connect(config={"extension_directory": str(directory), "autoinstall_known_extensions": False})
    try:
        for name in EXTENSIONS:
            con.execute(f"install '{wheel_extension(name, version)}'")
    except duckdb.Error as error:
        raise LakeError(f"cannot install the DuckDB extensions into {directory}: {first_line(error)}") from None
    finally:
        con.close()


def wheel_extension(name: str, version: str) -> Path:
    """The extension file shipped in the ``duckdb-extension-<name>`` wheel for this DuckDB version."""
    package = f"duckdb_extension_{name}"
    spec = importlib.util.find_spec(package)
    path = Path(spec.origin).parent / "extensions" / f"v{version}" / f"{name}.duckdb_extension" if spec else None
    if path is None or not path.exists():
        wheel = package.replace("_", "-")
        raise LakeError(
            f"the DuckDB extension {name} for duckdb {version} is not installed: "
            f"pip install {wheel}=={version} (the backend ducklake needs it; see requirements.lock)"
        )
    return path


def duckdb_config(settings: Settings) -> dict[str, object]:
    """DuckDB settings of every lake connection: the project's extensions, loaded on demand, never fetched."""
    return {
        "extension_directory": str(extension_directory(settings)),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": True,
        "memory_limit": duckdb_memory_limit(),
    }


@contextmanager
def connect(settings: Settings, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection with the lake attached as ``lake`` and in use; writers also get the schema.

    Storage is probed before the catalog is attached, so a missing bucket or wrong
    credentials fail before the catalog (or anything else) is written.
    """
    lake = lake_settings(settings)
    install_extensions(extension_directory(settings))
    con = duckdb.connect(config=duckdb_config(settings))
    try:
        if lake.on_s3:
            create_s3_secret(con, lake)
        probe_storage(con, lake)
        if lake.catalog_password:
            create_catalog_secret(con, lake)
        if read_only:
            attach(con, lake, read_only)
        else:
            with creation_lock(lake):  # two first writers would both create the lake's catalog tables
                attach(con, lake, read_only)
                retry_on_conflict(lambda: con.execute(lake_schema_sql()), "creating the warehouse tables")
        yield con
    finally:
        con.close()


def lake_settings(settings: Settings) -> LakeSettings:
    if settings.lake is None:
        raise LakeError("TRADE_WAREHOUSE_BACKEND is not ducklake: there is no lake to open")
    return settings.lake


def check(settings: Settings) -> None:
    """Open the lake once, read-write: the first task of a run calls it so a bad setting fails there."""
    with connect(settings) as con:
        con.execute("select 1 from audit.loads limit 1").fetchall()


def create_s3_secret(con: duckdb.DuckDBPyConnection, lake: LakeSettings) -> None:
    """The S3 credentials as a DuckDB secret of this connection only (never in a file, a log or an error)."""
    options = {"KEY_ID": lake.s3_key_id or "", "SECRET": lake.s3_secret or "", "REGION": lake.s3_region}
    if lake.s3_endpoint:
        options.update(ENDPOINT=lake.s3_endpoint, URL_STYLE="path")
    body = ", ".join(f"{key} {quote(value)}" for key, value in options.items())
    try:
        con.execute(f"create temporary secret trade_lake_s3 (type s3, {body}, use_ssl {str(lake.s3_use_ssl).lower()})")
    except duckdb.Error:
        raise LakeError(
            "cannot create the S3 secret from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and "
            "AWS_ENDPOINT_URL (is the httpfs extension installed?)"
        ) from None


def create_catalog_secret(con: duckdb.DuckDBPyConnection, lake: LakeSettings) -> None:
    """The catalog's password (``PGPASSWORD`` of the settings) as a secret the attach names."""
    try:
        con.execute(
            f"create temporary secret trade_lake_catalog (type postgres, password {quote(lake.catalog_password)})"
        )
    except duckdb.Error:
        raise LakeError("cannot create the catalog secret from PGPASSWORD (is postgres_scanner installed?)") from None


STORAGE_PROBE = ".trade-warehouse-write-probe"


def probe_storage(con: duckdb.DuckDBPyConnection, lake: LakeSettings) -> None:
    """Fail, naming the setting, when the data path cannot be listed (S3) or written (a directory)."""
    if not lake.on_s3:
        path = Path(lake.data_path)
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / STORAGE_PROBE
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            raise LakeError(
                f"TRADE_DUCKLAKE_DATA_PATH={lake.data_path!r} is not a writable directory: {error}"
            ) from None
        return
    # One LIST request for a key that never exists, not a listing of the whole lake: that is
    # a page per 1,000 files on every connection, and s3rver answers HTTP 500 past one page
    # (a 96-month lake failed its report task here). A missing bucket (404) and refused
    # credentials (403) fail this request just the same.
    try:
        con.execute("select count(*) from glob(?)", [lake.data_path.rstrip("/") + "/" + STORAGE_PROBE + "*"]).fetchall()
    except duckdb.Error as error:
        raise storage_error(lake, redact(first_line(error), lake)) from None


def storage_error(lake: LakeSettings, message: str) -> LakeError:
    """The setting an S3 failure points at: the bucket, the key pair, or the endpoint."""
    where = f"AWS_ENDPOINT_URL={lake.s3_endpoint}" if lake.s3_endpoint else "AWS S3"
    if "404" in message or "NoSuchBucket" in message:
        return LakeError(
            f"TRADE_DUCKLAKE_DATA_PATH={lake.data_path!r}: the bucket {lake.bucket!r} does not exist at {where}; "
            "create it (the lake never creates buckets)"
        )
    if "403" in message or "AccessDenied" in message or "InvalidAccessKeyId" in message or "Signature" in message:
        return LakeError(
            f"AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY: {where} refused the credentials for the bucket "
            f"{lake.bucket!r} (HTTP 403): check the key pair and its rights on TRADE_DUCKLAKE_DATA_PATH"
        )
    return LakeError(f"TRADE_DUCKLAKE_DATA_PATH={lake.data_path!r}: cannot list it at {where}: {message}")


def attach(con: duckdb.DuckDBPyConnection, lake: LakeSettings, read_only: bool) -> None:
    """``ATTACH 'ducklake:<catalog>' AS lake (DATA_PATH …)`` and ``USE lake``."""
    options = f"data_path {quote(lake.data_path)}" + (", read_only" if read_only else "")
    if lake.catalog_password:
        options += ", metadata_parameters map {'secret': 'trade_lake_catalog'}"
    try:
        con.execute(f"attach {quote('ducklake:' + lake.catalog)} as {ALIAS} ({options})")
    except duckdb.Error as error:
        message = redact(first_line(error), lake)
        if read_only and "does not exist" in message and "DuckLake" in message:
            message = "no lake in this catalog yet: the first load creates it (make run, or the DAG)"
        raise LakeError(
            f"TRADE_DUCKLAKE_CATALOG={lake.catalog!r}: cannot attach the DuckLake catalog: {message}"
        ) from None
    con.execute(f"use {ALIAS}")


def attach_sql(lake: LakeSettings, read_only: bool = True) -> str:
    """The one ATTACH statement a reader types (the README shows it; Superset runs it)."""
    options = f"DATA_PATH {quote(lake.data_path)}" + (", READ_ONLY" if read_only else "")
    return f"ATTACH {quote('ducklake:' + lake.catalog)} AS {ALIAS} ({options})"


def retry_on_conflict(action: Callable[[], T], what: str, attempts: int = CONFLICT_ATTEMPTS) -> T:
    """Run ``action`` (one whole transaction) again when its commit conflicted with another writer's.

    DuckLake commits optimistically: two writers deleting from the same table conflict at
    commit and the second is rolled back whole. Re-running it after a jittered backoff
    loses nothing and duplicates nothing; any other error is raised at once.
    """
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except duckdb.TransactionException as error:
            if "conflict" not in str(error).lower() or attempt == attempts:
                raise
            delay = min(8.0, 0.2 * 2**attempt) * random.uniform(0.5, 1.5)
            log.info(
                "commit of %s conflicted with another writer (try %d): again in %.1fs [%s]", what, attempt, delay, error
            )
            time.sleep(delay)
    raise AssertionError("unreachable")


@contextmanager
def catalog_session(lake: LakeSettings) -> Iterator[object]:
    """A psycopg2 session on the PostgreSQL catalog, for advisory locks; closing it releases them."""
    import psycopg2

    try:
        pg = psycopg2.connect(lake.catalog.removeprefix("postgres:"), password=lake.catalog_password)
    except psycopg2.Error as error:
        raise LakeError(
            f"TRADE_DUCKLAKE_CATALOG={lake.catalog!r}: cannot connect: {redact(first_line(error), lake)}"
        ) from None
    pg.autocommit = True
    try:
        yield pg
    finally:
        pg.close()


@contextmanager
def creation_lock(lake: LakeSettings) -> Iterator[None]:
    """Writers attach one at a time on a PostgreSQL catalog: the first one creates the lake.

    Without it, two hosts starting on an empty catalog both run DuckLake's catalog DDL and
    one fails. Held for the attach only (milliseconds); other catalogs are on one host.
    """
    if not lake.catalog.startswith("postgres:"):
        yield
        return
    with catalog_session(lake) as pg, pg.cursor() as cur:
        cur.execute("select pg_advisory_lock(%s)", [CREATE_LOCK_KEY])
        yield


@contextmanager
def exclusive(settings: Settings, timeout_s: float = 3600.0) -> Iterator[None]:
    """One dbt build + publish at a time, across hosts: a PostgreSQL advisory lock on the catalog.

    Loads of different months may run side by side; two builds of the same marts may not.
    A catalog that is not PostgreSQL is on one host: a file lock beside the data directory.
    """
    lake = lake_settings(settings)
    if not lake.catalog.startswith("postgres:"):
        path = settings.data_dir / "warehouse" / "lake.publish.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(path, timeout=timeout_s):
                yield
        except Timeout:
            raise LakeError(
                f"another process has held the lake's publish lock {path} for over {timeout_s:.0f}s"
            ) from None
        return
    with catalog_session(lake) as pg:
        wait_for_advisory_lock(pg, timeout_s)
        yield


def wait_for_advisory_lock(pg: object, timeout_s: float) -> None:
    """Take the publish lock, logging once when another build holds it."""
    deadline = time.monotonic() + timeout_s
    with pg.cursor() as cur:
        cur.execute("select pg_try_advisory_lock(%s)", [PUBLISH_LOCK_KEY])
        if cur.fetchone()[0]:
            return
        log.info("waiting for the lake's publish lock: another host is building and publishing")
        while time.monotonic() < deadline:
            time.sleep(1.0)
            cur.execute("select pg_try_advisory_lock(%s)", [PUBLISH_LOCK_KEY])
            if cur.fetchone()[0]:
                return
    raise LakeError(f"another host has held the lake's publish lock for over {timeout_s:.0f}s; is a build stuck?")


def current_snapshot(con: duckdb.DuckDBPyConnection) -> int:
    """The DuckLake snapshot this connection's transaction reads."""
    return con.execute(f"select id from {ALIAS}.current_snapshot()").fetchone()[0]


def quote(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [error.__class__.__name__])[0]


def redact(text: str, lake: LakeSettings) -> str:
    """``text`` without the S3 key pair or a libpq password, should an error message echo them."""
    for secret in (lake.s3_key_id, lake.s3_secret, lake.catalog_password):
        if secret:
            text = text.replace(secret, "***")
    return re.sub(r"(password\s*=\s*)\S+", r"\1***", text, flags=re.IGNORECASE)
