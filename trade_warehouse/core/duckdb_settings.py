"""DuckDB's own settings: the memory limits of the writer and of dbt, and the storage format of new files.

Apart from ``core.config`` because they are DuckDB's knobs, not the pipeline's: the
writer's connection, the lake's and dbt's profile read them. ``load_settings``
checks both memory limits, so a bad one fails the run before anything is loaded, not
when dbt starts after the load.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import lru_cache

from trade_warehouse.core.errors import ConfigError

DEFAULT_DUCKDB_MEMORY_LIMIT = "1GB"
DEFAULT_DBT_MEMORY_LIMIT = "1536MB"
# DuckDB accepts 0GB or 1MB and then fails every query with a bare "Out of Memory Error" that
# names no setting. 128MB is a floor for a named error, not a measured minimum of the pipeline.
MIN_MEMORY_LIMIT_BYTES = 128 * 1000**2
_UNITS = {
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}


def duckdb_memory_limit(env: Mapping[str, str] | None = None) -> str:
    """DuckDB's memory limit for the pipeline's writer connection (``TRADE_DUCKDB_MEMORY_LIMIT``, default 1GB).

    DuckDB takes 80 % of the machine's memory by default; the writer gets this much
    instead. Larger joins and aggregations spill to ``<warehouse>.tmp``.
    """
    return _memory_size(env, "TRADE_DUCKDB_MEMORY_LIMIT", DEFAULT_DUCKDB_MEMORY_LIMIT)


def dbt_memory_limit(env: Mapping[str, str] | None = None) -> str:
    """DuckDB's memory limit inside dbt's process (``TRADE_DBT_MEMORY_LIMIT``, default 1536MB).

    Why apart from the writer's: dbt holds the warehouse alone while it builds, and a full
    build's trade fact aggregates the whole history in one query: at 1GB and 84 months it
    spilled and once failed out of memory. Headroom, not speed (make bench, history).
    """
    return _memory_size(env, "TRADE_DBT_MEMORY_LIMIT", DEFAULT_DBT_MEMORY_LIMIT)


def _memory_size(env: Mapping[str, str] | None, name: str, default: str) -> str:
    """The size in ``env[name]`` as DuckDB's ``memory_limit`` takes it; ``default`` when unset or blank.

    A clear error naming ``name`` for anything DuckDB would refuse, or accept and then fail
    on: not a size, or less than 128MB.
    """
    env = os.environ if env is None else env
    raw = (env.get(name) or "").strip() or default
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", raw, flags=re.IGNORECASE)
    if not match:
        raise ConfigError(f"{name}={raw!r} is not a size like 1GB or 1536MB")
    if float(match[1]) * _UNITS[match[2].lower()] < MIN_MEMORY_LIMIT_BYTES:
        raise ConfigError(f"{name}={raw!r} is too small: set at least 128MB")
    return raw


DEFAULT_DUCKDB_STORAGE_VERSION = "v1.3.0"


def duckdb_storage_version(env: Mapping[str, str] | None = None) -> str:
    """The DuckDB storage format of the files the pipeline creates (``TRADE_DUCKDB_STORAGE_VERSION``).

    Why not DuckDB's default: a new file is written in the v1.0 format unless told
    otherwise, so that DuckDB 1.0 can still read it, and that format lacks the string
    compression of 1.3 (DICT_FSST). Writing the raw tables and marts, whose rows carry
    partner names and HS descriptions, took about 1.5 times as long (the largest mart's
    copy into a snapshot: 3.6 s against 2.4 s at 12 months, files 20 % larger). The default
    ``v1.3.0`` is readable by DuckDB 1.3 and newer; set ``v1.0.0`` for BI tools with an
    older DuckDB. Only new files take it: an existing warehouse or snapshot keeps its format.
    """
    env = os.environ if env is None else env
    raw = (env.get("TRADE_DUCKDB_STORAGE_VERSION") or "").strip() or DEFAULT_DUCKDB_STORAGE_VERSION
    if not re.fullmatch(r"v\d+\.\d+\.\d+|latest", raw) or not _known_storage_version(raw):
        raise ConfigError(
            f"TRADE_DUCKDB_STORAGE_VERSION={raw!r} is not a DuckDB storage version this DuckDB "
            "can write, such as v1.3.0 (readable by DuckDB 1.3 and newer) or v1.0.0"
        )
    return raw


@lru_cache(maxsize=8)
def _known_storage_version(version: str) -> bool:
    """Whether the installed DuckDB accepts ``version`` (an in-memory database, milliseconds)."""
    import duckdb  # here, not at import: the settings are read where no DuckDB is needed

    try:
        duckdb.connect(config={"storage_compatibility_version": version}).close()
    except duckdb.Error:
        return False
    return True
