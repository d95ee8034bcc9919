"""Runtime settings, read from the environment (the README's "Configuration" table).

Settings are resolved when a function asks for them, never at import time, so that DAG
parsing does no I/O and tests can point the pipeline at temporary directories.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from trade_warehouse.core.duckdb_settings import dbt_memory_limit, duckdb_memory_limit
from trade_warehouse.core.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
SEEDS_DIR = DBT_PROJECT_DIR / "seeds"

DEFAULT_BASE_URL = "https://api.census.gov/data/timeseries/intltrade"
HS_LEVELS = ("HS2", "HS4", "HS6", "HS10")
FLOWS = ("exports", "imports")
# State-level trade (Census exports/statehs, imports/statehs): exports by state of origin and
# imports by state of destination, loaded as flows of their own beside the national ones.
STATE_FLOWS = ("state_exports", "state_imports")
STATE_HS_LEVELS = ("HS2", "HS4", "HS6")  # the statehs datasets serve no HS10
WRITER_POOL = "duckdb_writer"
# Celery queue of the tasks that write the warehouse file: served by exactly one worker with
# concurrency 1 on the host that owns the data volume (LocalExecutor ignores queues).
# On the DuckLake backend the writers use the default queue instead (``writer_queue``).
WRITER_QUEUE = "duckdb"
# Seconds between a failed task try and its retry; unset = the DAG's default (2 minutes).
RETRY_DELAY_ENV = "TRADE_TASK_RETRY_DELAY_S"


@dataclass(frozen=True)
class Settings:
    """Where the data lives and which source and commodity level to use."""

    base_url: str
    api_key: str | None
    data_dir: Path
    hs_level: str
    concurrency: int = 2  # parallel requests: the reference recommends at most 2
    pacing_s: float = 0.5  # pause before each request
    timeout_s: float = 180.0  # heavy real queries answer after minutes
    backend: str = "duckdb"  # TRADE_WAREHOUSE_BACKEND: duckdb (one file) or ducklake
    lake: LakeSettings | None = None  # the DuckLake catalog and data path (backend ducklake)
    state_hs_level: str = "HS4"  # TRADE_STATE_HS_LEVEL: commodity level of the state endpoints
    state_trade: bool = True  # TRADE_STATE_TRADE: extract and load the state-level endpoints
    # TRADE_LOAD_LANES: flows loaded side by side (each on its own DuckDB connection); a
    # gzip JSON file is decompressed on one core, so one lane leaves the other core idle
    load_lanes: int = 2

    @property
    def flows(self) -> tuple[str, ...]:
        """Every Census flow a run extracts and loads: national first, then (if on) the states'."""
        return FLOWS + (STATE_FLOWS if self.state_trade else ())

    def level_for(self, flow: str) -> str:
        """The commodity level a flow is extracted at: ``state_hs_level`` for the state flows."""
        return self.state_hs_level if flow in STATE_FLOWS else self.hs_level

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing" / "census"

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse" / "trade.duckdb"

    @property
    def serving_dir(self) -> Path:
        return self.data_dir / "serving"

    @property
    def serving_path(self) -> Path:
        return self.serving_dir / "trade.duckdb"

    @property
    def parquet_dir(self) -> Path:
        return self.serving_dir / "parquet"

    @property
    def report_path(self) -> Path:
        return self.serving_dir / "report" / "index.html"

    @property
    def snapshots_dir(self) -> Path:
        return self.serving_dir / "snapshots"

    @property
    def docs_dir(self) -> Path:
        return self.data_dir / "docs"

    @property
    def gx_results_dir(self) -> Path:
        return self.data_dir / "gx" / "results"

    @property
    def gx_docs_dir(self) -> Path:
        return self.docs_dir / "gx"

    @property
    def dbt_docs_dir(self) -> Path:
        return self.docs_dir / "dbt"


def hs_level_digits(hs_level: str) -> int:
    """Number of digits of a commodity code at ``hs_level`` (``HS6`` -> 6)."""
    level = hs_level.upper()
    if level not in HS_LEVELS:
        raise ConfigError(
            f"TRADE_HS_LEVEL={hs_level!r} is not a Census commodity level; use one of {', '.join(HS_LEVELS)}"
        )
    return int(level[2:])


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read the settings from ``env`` (default: the process environment) and check them."""
    env = os.environ if env is None else env
    base_url = (env.get("CENSUS_API_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"CENSUS_API_BASE_URL must be an http(s) URL, got {base_url!r}")
    hs_level = (env.get("TRADE_HS_LEVEL") or "HS6").upper()
    hs_level_digits(hs_level)
    data_dir = Path(env.get("TRADE_DATA_DIR") or "./data").expanduser().resolve()
    # read where DuckDB opens (the writer, dbt's profile); checked here so that a bad limit
    # fails the run before its load, not when dbt starts after it
    duckdb_memory_limit(env)
    dbt_memory_limit(env)
    return Settings(
        base_url=base_url,
        api_key=env.get("CENSUS_API_KEY") or None,
        data_dir=data_dir,
        hs_level=hs_level,
        concurrency=int(number_setting(env, "CENSUS_API_CONCURRENCY", 2, minimum=1)),
        pacing_s=number_setting(env, "CENSUS_API_PACING_S", 0.5, minimum=0),
        timeout_s=number_setting(env, "CENSUS_API_TIMEOUT_S", 180, minimum=1),
        backend=warehouse_backend(env),
        lake=load_lake_settings(env) if warehouse_backend(env) == "ducklake" else None,
        state_hs_level=state_hs_level(env),
        state_trade=switch_setting(env, "TRADE_STATE_TRADE", True),
        load_lanes=int(number_setting(env, "TRADE_LOAD_LANES", min(2, os.cpu_count() or 1), minimum=1)),
    )


def state_hs_level(env: Mapping[str, str]) -> str:
    """``TRADE_STATE_HS_LEVEL``: HS2, HS4 (default) or HS6, the levels ``statehs`` serves."""
    level = (env.get("TRADE_STATE_HS_LEVEL") or "HS4").strip().upper()
    if level not in STATE_HS_LEVELS:
        raise ConfigError(
            f"TRADE_STATE_HS_LEVEL={level!r} is not a level the state endpoints serve; "
            f"use one of {', '.join(STATE_HS_LEVELS)}"
        )
    return level


def switch_setting(env: Mapping[str, str], name: str, default: bool) -> bool:
    """An on/off setting: on, true, yes, 1 or off, false, no, 0 (any case); unset = ``default``."""
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("on", "true", "yes", "1"):
        return True
    if raw in ("off", "false", "no", "0"):
        return False
    raise ConfigError(f"{name}={raw!r} is not on or off")


# ---- storage backend (README "The DuckLake backend") --------------------------------------
BACKENDS = ("duckdb", "ducklake")


@dataclass(frozen=True)
class LakeSettings:
    """Where a DuckLake warehouse lives: its catalog database and its data files.

    The S3 key pair is kept out of ``repr`` (settings end up in log lines and tracebacks);
    the catalog password is never here at all: libpq reads ``PGPASSWORD``.
    """

    catalog: str  # a DuckLake catalog string without the 'ducklake:' prefix
    data_path: str  # s3://bucket/prefix/ or an absolute directory, ending in '/'
    s3_key_id: str | None = field(default=None, repr=False)
    s3_secret: str | None = field(default=None, repr=False)
    s3_region: str = "us-east-1"
    s3_endpoint: str | None = None  # host[:port] of an S3-compatible store; None: AWS
    s3_use_ssl: bool = True
    catalog_password: str | None = field(default=None, repr=False)  # PGPASSWORD of the settings' environment

    @property
    def on_s3(self) -> bool:
        return self.data_path.startswith("s3://")

    @property
    def bucket(self) -> str | None:
        return urlsplit(self.data_path).netloc if self.on_s3 else None


def warehouse_backend(env: Mapping[str, str] | None = None) -> str:
    """``TRADE_WAREHOUSE_BACKEND``: ``duckdb`` (default, one file on one host) or ``ducklake``."""
    env = os.environ if env is None else env
    backend = (env.get("TRADE_WAREHOUSE_BACKEND") or "duckdb").strip().lower()
    if backend not in BACKENDS:
        raise ConfigError(f"TRADE_WAREHOUSE_BACKEND={backend!r} is not a backend; use one of {', '.join(BACKENDS)}")
    return backend


def writer_queue(env: Mapping[str, str] | None = None) -> str:
    """The Celery queue of the warehouse-writing tasks (``load``, ``transform_and_publish``).

    The file backend needs them all on ``duckdb``, the one worker on the host that owns the
    file. The lake needs no such host: snapshot isolation, retried commit conflicts and the
    publish lock in PostgreSQL make any worker a safe writer, so they go to the default queue
    (``AIRFLOW__OPERATORS__DEFAULT_QUEUE``) that every worker serves.
    """
    env = os.environ if env is None else env
    if warehouse_backend(env) == "duckdb":
        return WRITER_QUEUE
    return (env.get("AIRFLOW__OPERATORS__DEFAULT_QUEUE") or "default").strip()


def load_lake_settings(env: Mapping[str, str] | None = None) -> LakeSettings:
    """The DuckLake settings, checked: a missing or malformed one fails here, by name."""
    env = os.environ if env is None else env
    catalog = (env.get("TRADE_DUCKLAKE_CATALOG") or "").strip().removeprefix("ducklake:")
    if not catalog:
        raise ConfigError(
            "TRADE_WAREHOUSE_BACKEND=ducklake needs TRADE_DUCKLAKE_CATALOG, a DuckLake catalog such as "
            "'postgres:dbname=trade host=db.internal port=5432 user=trade' (password in PGPASSWORD)"
        )
    if re.search(r"password\s*=", catalog, flags=re.IGNORECASE):
        raise ConfigError(
            "TRADE_DUCKLAKE_CATALOG must not contain the password (it would reach logs and dbt's files); "
            "set PGPASSWORD instead"
        )
    data_path = (env.get("TRADE_DUCKLAKE_DATA_PATH") or "").strip()
    if not data_path:
        raise ConfigError(
            "TRADE_WAREHOUSE_BACKEND=ducklake needs TRADE_DUCKLAKE_DATA_PATH (s3://bucket/prefix/ or a directory)"
        )
    if "://" in data_path and not data_path.startswith("s3://"):
        raise ConfigError(f"TRADE_DUCKLAKE_DATA_PATH={data_path!r}: use s3://bucket/prefix/ or a local directory")
    password = env.get("PGPASSWORD") or None
    if not data_path.startswith("s3://"):
        return LakeSettings(catalog, str(Path(data_path).expanduser().resolve()) + "/", catalog_password=password)
    if not urlsplit(data_path).netloc:
        raise ConfigError(f"TRADE_DUCKLAKE_DATA_PATH={data_path!r} names no bucket; use s3://bucket/prefix/")
    missing = [name for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if not env.get(name)]
    if missing:
        raise ConfigError(f"TRADE_DUCKLAKE_DATA_PATH is on S3 but {' and '.join(missing)} is not set")
    endpoint, use_ssl = s3_endpoint(env.get("AWS_ENDPOINT_URL") or "")
    return LakeSettings(
        catalog,
        data_path.rstrip("/") + "/",
        s3_key_id=env["AWS_ACCESS_KEY_ID"],
        s3_secret=env["AWS_SECRET_ACCESS_KEY"],
        s3_region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        s3_endpoint=endpoint,
        s3_use_ssl=use_ssl,
        catalog_password=password,
    )


def s3_endpoint(url: str) -> tuple[str | None, bool]:
    """``AWS_ENDPOINT_URL`` as DuckDB's S3 secret wants it: (host[:port], use SSL); (None, True) for AWS."""
    if not url:
        return None, True
    parts = urlsplit(url if "://" in url else f"https://{url}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"AWS_ENDPOINT_URL={url!r} must be an http(s) URL such as http://127.0.0.1:9000")
    return parts.netloc, parts.scheme == "https"


def number_setting(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    """A numeric setting from ``env``: ``default`` when unset; a clear error when not a number or too small."""
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum:g}")
    return value


# ---- UN Comtrade (mirror statistics; see README "Mirror statistics") ----------------------
DEFAULT_COMTRADE_BASE_URL = "https://comtradeapi.un.org/data/v1"
DEFAULT_COMTRADE_REPORTERS = ("392", "410", "156")  # Japan, Rep. of Korea, China (M49)
DEFAULT_FOB_FACTOR = 1.06  # CIF = 1.06 x FOB, as in the IMF's Direction of Trade Statistics


@dataclass(frozen=True)
class ComtradeSettings:
    """Where the partners' reports come from and how they are compared."""

    base_url: str
    api_key: str | None
    reporters: tuple[str, ...]  # M49 codes of the partners whose own reports are fetched
    fob_factor: float
    max_records: int = 100_000  # the free key's cap per call
    pacing_s: float = 1.0  # a free key allows about 500 calls a day, and bursts are throttled
    timeout_s: float = 120.0


def load_comtrade_settings(env: Mapping[str, str] | None = None) -> ComtradeSettings:
    """Read the Comtrade settings (``COMTRADE_*``, ``TRADE_MIRROR_FOB_FACTOR``) and check them."""
    env = os.environ if env is None else env
    base_url = (env.get("COMTRADE_API_BASE_URL") or DEFAULT_COMTRADE_BASE_URL).rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"COMTRADE_API_BASE_URL must be an http(s) URL, got {base_url!r}")
    raw = env.get("TRADE_COMTRADE_REPORTERS") or ",".join(DEFAULT_COMTRADE_REPORTERS)
    reporters = tuple(dict.fromkeys(code.strip().zfill(3) for code in raw.split(",") if code.strip()))
    if not reporters or not all(code.isdigit() and len(code) == 3 for code in reporters):
        raise ConfigError(f"TRADE_COMTRADE_REPORTERS={raw!r} must be comma-separated M49 codes such as 392,410,156")
    if "842" in reporters:
        raise ConfigError("TRADE_COMTRADE_REPORTERS must not contain 842: the U.S. side comes from the Census Bureau")
    fob_factor = number_setting(env, "TRADE_MIRROR_FOB_FACTOR", DEFAULT_FOB_FACTOR, minimum=1.0)
    return ComtradeSettings(
        base_url=base_url,
        api_key=env.get("COMTRADE_API_KEY") or None,
        reporters=reporters,
        fob_factor=fob_factor,
        max_records=int(number_setting(env, "COMTRADE_MAX_RECORDS", 100_000, minimum=1)),
        pacing_s=number_setting(env, "COMTRADE_API_PACING_S", 1.0, minimum=0),
        timeout_s=number_setting(env, "COMTRADE_API_TIMEOUT_S", 120, minimum=1),
    )
