"""Superset on the DuckLake backend: every DuckDB connection it opens attaches the lake read-only.

Runs in Superset's venv (imported by ``superset_config.py`` when
``TRADE_WAREHOUSE_BACKEND=ducklake``), so it cannot import ``trade_warehouse``; it reads the
same settings the pipeline does, from Superset's process environment:
``TRADE_DUCKLAKE_CATALOG``, ``TRADE_DUCKLAKE_DATA_PATH``, ``PGPASSWORD`` and the ``AWS_*``
variables. Why an SQLAlchemy ``connect`` hook rather than settings on the database: the
credentials then live in the process environment only, never in Superset's metadata
database, its exports or its UI, and every new connection (Superset pools none for
analytics) attaches the lake afresh, so a query after a publish reads the new snapshot.

The extensions are loaded from the ``duckdb-extension-*`` wheels of this venv (pinned in
``bi/requirements.lock``); nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import duckdb

ALIAS = "lake"  # as in the pipeline: datasets' SQL says marts.…, resolved in the lake after USE
EXTENSIONS = ("postgres_scanner", "httpfs", "ducklake")


class LakeAttachError(RuntimeError):
    """A lake setting is missing or the lake cannot be attached; the message names the setting."""


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def extension_file(name: str) -> Path:
    """The extension shipped in this venv's ``duckdb-extension-<name>`` wheel for its duckdb."""
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or spec.origin is None:
        raise LakeAttachError(f"duckdb-extension-{name.replace('_', '-')} is not installed in Superset's venv")
    path = Path(spec.origin).parent / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.exists():
        raise LakeAttachError(f"{path} is missing: Superset's duckdb and its extension wheels differ in version")
    return path


def statements(env: Mapping[str, str]) -> list[str]:
    """The SQL that attaches the lake read-only on a fresh connection (holds secrets: never log it)."""
    catalog = (env.get("TRADE_DUCKLAKE_CATALOG") or "").strip().removeprefix("ducklake:")
    data_path = (env.get("TRADE_DUCKLAKE_DATA_PATH") or "").strip()
    if not catalog or not data_path:
        raise LakeAttachError(
            "TRADE_WAREHOUSE_BACKEND=ducklake needs TRADE_DUCKLAKE_CATALOG and TRADE_DUCKLAKE_DATA_PATH"
        )
    sql = ["set autoinstall_known_extensions = false"]
    sql += [f"load {quote(str(extension_file(name)))}" for name in EXTENSIONS]
    if data_path.startswith("s3://"):
        endpoint = urlsplit(env.get("AWS_ENDPOINT_URL") or "")
        options = {
            "key_id": env.get("AWS_ACCESS_KEY_ID") or "",
            "secret": env.get("AWS_SECRET_ACCESS_KEY") or "",
            "region": env.get("AWS_REGION") or "us-east-1",
        }
        if endpoint.netloc:
            options.update(endpoint=endpoint.netloc, url_style="path")
        body = ", ".join(f"{key} {quote(value)}" for key, value in options.items())
        use_ssl = "false" if endpoint.scheme == "http" else "true"
        sql.append(f"create temporary secret trade_lake_s3 (type s3, {body}, use_ssl {use_ssl})")
    attach_options = f"data_path {quote(data_path)}, read_only"
    if env.get("PGPASSWORD"):
        sql.append(f"create temporary secret trade_lake_catalog (type postgres, password {quote(env['PGPASSWORD'])})")
        attach_options += ", metadata_parameters map {'secret': 'trade_lake_catalog'}"
    sql.append(f"attach {quote('ducklake:' + catalog)} as {ALIAS} ({attach_options})")
    sql.append(f"use {ALIAS}")
    return sql


def attach(connection: object, env: Mapping[str, str] | None = None) -> None:
    """Run :func:`statements` on a DuckDB DB-API connection; an error names the setting, not a secret."""
    env = os.environ if env is None else env
    for statement in statements(env):
        try:
            connection.execute(statement)
        except duckdb.Error as error:
            what = statement.split(" (", 1)[0] if "secret" in statement else statement[:200]
            message = str(error).splitlines()[0]
            for secret in (env.get("PGPASSWORD"), env.get("AWS_SECRET_ACCESS_KEY")):
                if secret:
                    message = message.replace(secret, "***")
            raise LakeAttachError(
                f"cannot attach the DuckLake warehouse (TRADE_DUCKLAKE_CATALOG={env.get('TRADE_DUCKLAKE_CATALOG')!r}, "
                f"TRADE_DUCKLAKE_DATA_PATH={env.get('TRADE_DUCKLAKE_DATA_PATH')!r}) at `{what}`: {message}"
            ) from None


def register() -> None:
    """Attach the lake on every new DuckDB connection of any SQLAlchemy engine in this process."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    statements(os.environ)  # a missing setting fails Superset's start, not the first chart

    @event.listens_for(Engine, "connect")
    def attach_the_lake(dbapi_connection: object, _record: object) -> None:
        if type(dbapi_connection).__module__.startswith("duckdb_engine"):
            attach(dbapi_connection)
