"""One-shot initialisation of a Trade Warehouse Airflow deployment (the compose `airflow-init`).

Idempotent, so it runs on every `docker compose up` and after every upgrade:

1. `airflow db migrate` (creates or upgrades the Postgres metadata database);
2. the `duckdb_writer` pool: one slot on the file backend (DuckDB allows one writer process
   per file); TRADE_LAKE_WRITER_SLOTS (default 4) on the DuckLake backend, where writers on
   any worker commit concurrently and retry conflicts;
3. the `census_api` connection from CENSUS_API_BASE_URL and CENSUS_API_KEY, replaced on
   every run so that the environment stays the one source of truth (the key goes through
   a private temporary file, never on a command line, and is never printed);
4. the admin password of the simple auth manager from AIRFLOW_ADMIN_PASSWORD, written to
   its passwords file (mode 600), so that Airflow never generates and logs one;
5. as root (the compose service): hands the data and log directories to AIRFLOW_UID.

The deployment tests (tests/deploy) run this same script against their own Postgres.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

WRITER_POOL = "duckdb_writer"  # trade_warehouse.config.WRITER_POOL (kept import-free on purpose)
CONNECTION_ID = "census_api"


def writer_pool_slots() -> tuple[int, str]:
    """The writer pool's size and description for the backend in TRADE_WAREHOUSE_BACKEND."""
    backend = os.environ.get("TRADE_WAREHOUSE_BACKEND", "").strip().lower() or "duckdb"
    if backend == "duckdb":
        return 1, "DuckDB warehouse writer: one process at a time"
    if backend != "ducklake":
        sys.exit(f"airflow-init: TRADE_WAREHOUSE_BACKEND={backend!r} is not a backend; use duckdb or ducklake")
    raw = os.environ.get("TRADE_LAKE_WRITER_SLOTS", "").strip() or "4"
    if not raw.isdigit() or int(raw) < 1:
        sys.exit(f"airflow-init: TRADE_LAKE_WRITER_SLOTS={raw!r} must be a whole number of at least 1")
    return int(raw), "DuckLake writers: concurrent loads, conflicts retried, one publish at a time"


def required(name: str) -> str:
    """The value of a required environment variable; exit with its name when it is missing."""
    value = os.environ.get(name, "").strip()
    if not value:
        sys.exit(f"airflow-init: {name} is required (set it in docker/.env)")
    return value


def airflow(*args: str) -> None:
    """Run one `airflow` CLI command; its output is shown only when it fails."""
    result = subprocess.run(["airflow", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        sys.exit(f"airflow-init: `airflow {args[0]} {args[1] if len(args) > 1 else ''}` failed")


def set_census_connection(base_url: str, api_key: str) -> None:
    """Create or replace the `census_api` connection (host = base URL, password = key).

    `airflow connections import --overwrite` reads it from a file readable only by us
    (deleted at once), so the key never appears on a command line or in the output.
    """
    fd, name = tempfile.mkstemp(suffix=".json")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(
                {
                    CONNECTION_ID: {
                        "conn_type": "http",
                        "host": base_url,
                        "password": api_key,
                        "description": "Census international trade API (from the environment)",
                    }
                },
                handle,
            )
        airflow("connections", "import", "--overwrite", name)
    finally:
        os.unlink(name)


def write_admin_password(username: str, password: str, uid: int | None) -> Path:
    """Store the admin password where the simple auth manager reads it (mode 600)."""
    path = Path(required("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({username: password}, handle)
        handle.write("\n")
    os.chmod(path, 0o600)
    if uid is not None:
        os.chown(path.parent, uid, 0)
        os.chown(path, uid, 0)
    return path


def hand_over(uid: int, *directories: str) -> None:
    """Give the data and log directories to the uid the Airflow services run as."""
    for directory in directories:
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        for path in [root, *root.rglob("*")]:
            os.lchown(path, uid, 0)


def main() -> int:
    slots, description = writer_pool_slots()  # a bad backend setting fails before anything is done
    base_url = required("CENSUS_API_BASE_URL")
    api_key = required("CENSUS_API_KEY")
    username = os.environ.get("AIRFLOW_ADMIN_USERNAME", "").strip() or "admin"
    password = required("AIRFLOW_ADMIN_PASSWORD")
    as_root = os.geteuid() == 0
    uid = int(os.environ.get("AIRFLOW_UID") or 50000) if as_root else None

    airflow("db", "migrate")
    print("airflow-init: metadata database migrated", flush=True)
    airflow("pools", "set", WRITER_POOL, str(slots), description)
    print(f"airflow-init: pool {WRITER_POOL} ({slots} slot{'s' if slots > 1 else ''})", flush=True)
    set_census_connection(base_url, api_key)
    print(f"airflow-init: connection {CONNECTION_ID} -> {base_url}", flush=True)
    path = write_admin_password(username, password, uid)
    print(f"airflow-init: password of user {username!r} written to {path}", flush=True)
    if uid is not None:
        hand_over(uid, os.environ.get("TRADE_DATA_DIR", "/opt/trade-data"), "/opt/airflow/logs")
        print(f"airflow-init: data and logs owned by uid {uid}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
