"""``--backend ducklake``: each measured run gets a fresh DuckLake (catalog database and data prefix).

The lake's server settings come from the environment as for the pipeline
(``TRADE_DUCKLAKE_CATALOG`` naming a PostgreSQL server and an existing database to connect
to, ``PGPASSWORD``, ``TRADE_DUCKLAKE_DATA_PATH`` and the ``AWS_*`` variables); every run
creates its own database on that server and its own prefix under the data path, so a
backfill starts from an empty warehouse and runs never see each other's data.
``--local-lake`` starts such a server and store on 127.0.0.1 for the bench's own run.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


SUPPORT = Path(__file__).resolve().parents[2] / "tests" / "support"


@contextmanager
def local_lake() -> Iterator[None]:
    """``--local-lake``: PostgreSQL and s3rver on 127.0.0.1 for the bench's lake runs, stopped after.

    Why: measuring the lake needs a catalog server and an object store, and the tests already
    start both (``tests/support/lake_services.py``: a private PostgreSQL cluster, npm's
    file-backed ``s3rver``). Their settings go into this process's environment, where
    ``fresh_lake`` reads them, for the duration of the run only; the cluster, the bucket and
    the settings are gone afterwards.
    """
    if str(SUPPORT) not in sys.path:
        sys.path.insert(0, str(SUPPORT))
    from lake_services import LakeServices  # the tests' support code, not part of the package
    from postgres import StackError

    saved = dict(os.environ)
    services = None
    try:
        try:
            services = LakeServices()  # finds PostgreSQL's binaries: may already fail
            services.start()
        except StackError as error:
            raise BenchError(f"--local-lake could not start the lake's services: {error}") from None
        os.environ.update(services.env(services.create_catalog("bench_admin"), "bench"))
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        if services is not None:
            services.stop()
