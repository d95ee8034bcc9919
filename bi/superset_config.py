"""Superset configuration for the Trade Warehouse (loaded through SUPERSET_CONFIG_PATH).

Everything instance-specific comes from the environment set by ``trade_warehouse.bi``:
the home directory (metadata DB, logs) and a secret key generated on first start and
kept in that home with mode 0600. Nothing secret lives in the repository.
"""

import os

_home = os.environ["TRADE_BI_HOME"]

# Generated on first start by trade_warehouse.bi (mode 0600) and read from the file, so it
# is in no process environment; Superset refuses to start with its built-in default.
with open(os.path.join(_home, "secret_key")) as _key:
    SECRET_KEY = _key.read().strip()

# Superset's own metadata (users, charts, dashboards): a SQLite file in the BI home.
SQLALCHEMY_DATABASE_URI = f"sqlite:///{os.path.join(_home, 'superset.db')}?check_same_thread=false"

# Freshness: no result cache, so a dashboard refresh after a publish queries the new
# snapshot. Connections are not pooled either (Superset uses NullPool for analytics
# databases), so every query opens serving/trade.duckdb afresh: after the publish's
# atomic rename it opens the new file, never a stale handle on the old one.
CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
# Filter state and explore form data need a working cache; keep them in this process.
FILTER_STATE_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 86400}
EXPLORE_FORM_DATA_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 86400}

# Loopback only, one small instance: no examples, no telemetry, no thumbnails.
FEATURE_FLAGS = {"THUMBNAILS": False, "ALERT_REPORTS": False}
SUPERSET_WEBSERVER_ADDRESS = "127.0.0.1"
SUPERSET_WEBSERVER_PORT = int(os.environ.get("TRADE_BI_PORT", "8088"))
# Keep SQL Lab read-only even if someone ticks "allow DML" on a database: the serving
# database is also opened with read_only=True, so DuckDB refuses writes on its own.
PREVENT_UNSAFE_DB_CONNECTIONS = True
SQLLAB_TIMEOUT = 60
SUPERSET_WEBSERVER_TIMEOUT = 120

# The DuckLake backend: the database's connections are in-memory DuckDBs that attach the lake
# read-only on connect (bi/lake_attach.py), with the credentials from this process's
# environment only. The file backend needs nothing here.
if os.environ.get("TRADE_WAREHOUSE_BACKEND", "").strip().lower() == "ducklake":
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import lake_attach

    lake_attach.register()
