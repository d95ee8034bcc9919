"""``--backend ducklake``: each measured run gets a fresh DuckLake (catalog database and data prefix).

The lake's server settings come from the environment as for the pipeline
(``TRADE_DUCKLAKE_CATALOG`` naming a PostgreSQL server and an existing database to connect
to, ``PGPASSWORD``, ``TRADE_DUCKLAKE_DATA_PATH`` and the ``AWS_*`` variables); every run
creates its own database on that server and its own prefix under the data path, so a
backfill starts from an empty warehouse and runs never see each other's data.
"""

from __future__ import annotations

import os
import re
import time

from tools.bench.measure import BenchError
from trade_warehouse.core.config import ConfigError, load_lake_settings
from trade_warehouse.load.lake import catalog_session


def fresh_lake(name: str) -> dict[str, str]:
    """The environment of an empty lake for run ``name`` (a new catalog database, a new data prefix)."""
    try:
        lake = load_lake_settings(os.environ)
    except ConfigError as error:
        raise BenchError(f"--backend ducklake needs the lake's settings in the environment: {error}") from None
    if not lake.catalog.startswith("postgres:"):
        raise BenchError("--backend ducklake measures a PostgreSQL catalog: TRADE_DUCKLAKE_CATALOG=postgres:…")
    database = f"bench_{re.sub(r'[^a-z0-9]+', '_', name.lower())}_{time.strftime('%Y%m%d%H%M%S')}"
    with catalog_session(lake) as pg, pg.cursor() as cur:
        cur.execute(f"create database {database}")
    catalog = re.sub(r"dbname=\S+", f"dbname={database}", lake.catalog)
    return {
        "TRADE_WAREHOUSE_BACKEND": "ducklake",
        "TRADE_DUCKLAKE_CATALOG": catalog,
        "TRADE_DUCKLAKE_DATA_PATH": f"{lake.data_path}{database}/",
    }
