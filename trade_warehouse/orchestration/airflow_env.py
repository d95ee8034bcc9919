"""The project's own Airflow: home inside the repo, SQLite metadata, our DAG folder only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from trade_warehouse.core.config import PROJECT_ROOT, WRITER_POOL

DAGS_DIR = PROJECT_ROOT / "dags"
DAG_ID = "census_trade_monthly"  # one month per run, or a window from params
NIGHTLY_DAG_ID = "census_trade_nightly"


def airflow_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """Environment defaults for every Airflow process we start (explicit values win)."""
    env = dict(os.environ if env is None else env)
    home = Path(env.get("AIRFLOW_HOME") or PROJECT_ROOT / ".airflow")
    env.setdefault("AIRFLOW_HOME", str(home))
    env.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS_DIR))
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    env.setdefault("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "False")
    env.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}")
    env.setdefault("GX_ANALYTICS_ENABLED", "False")
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return env


def ensure_airflow() -> None:
    """Migrate the metadata DB when needed and create the writer pool (idempotent, fast)."""
    env = airflow_environment()
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    airflow = str(Path(sys.executable).with_name("airflow"))
    stamp = home / ".migrated"
    if not stamp.exists() or not (home / "airflow.db").exists():
        subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
        stamp.write_text("ok\n")
    pool_stamp = home / ".pool"
    if not pool_stamp.exists():
        subprocess.run(
            [airflow, "pools", "set", WRITER_POOL, "1", "DuckDB warehouse writer: one process at a time"],
            env=env,
            check=True,
            capture_output=True,
        )
        pool_stamp.write_text("ok\n")
