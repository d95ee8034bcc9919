"""Two writers on two "hosts" and a reader, sharing only a DuckLake catalog and a bucket.

Each writer has its own data directory (its own landing zone, dbt target, GX results), as a
Celery worker on another machine would; they share PostgreSQL and the S3 store, nothing else.
They extract, load and publish different months at the same time while a third process
reads ``marts`` in a loop, one transaction per read.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from trade_warehouse.core.config import load_settings
from trade_warehouse.emulator import DEMO_API_KEY
from trade_warehouse.load import lake

pytestmark = pytest.mark.dag


WRITER = textwrap.dedent(
    """
    import logging, sys
    from trade_warehouse.core.config import load_settings
    from trade_warehouse.publish.stage import transform_and_publish
    from trade_warehouse.sources.census import extract, load_and_validate

    logging.basicConfig(level=logging.INFO)  # the conflict retries' log lines reach stderr
    settings = load_settings()
    months = sys.argv[1].split(",")
    loaded = load_and_validate(settings, extract(settings, months).landed, "writer-" + months[0])
    assert not loaded.failures, loaded.failures
    print("published", transform_and_publish(settings, "writer-" + months[0]).published)
    """
)

READER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from trade_warehouse.core.config import load_settings
    from trade_warehouse.publish.serving import open_served, serves_a_publish

    stop, ready, reads, mixes, seen = Path(sys.argv[1]), Path(sys.argv[2]), 0, 0, set()
    with open_served(load_settings()) as con:
        while not stop.exists():
            ready.touch()  # reading: the test starts the writers now
            con.execute("begin transaction")  # one snapshot: the publish and the marts it describes
            row = None
            if serves_a_publish(con):  # before the first publish there is nothing to read yet
                row = con.execute(
                    "select p.publish_id, p.months, a.checksum from meta.publish as p "
                    "join audit.publishes as a using (publish_id)"
                ).fetchone()
            if row is not None:
                months = con.execute("select count(*) from marts.dim_month").fetchone()[0]
                checksum = con.execute(
                    "select sum(exports_usd)::varchar || '/' || sum(imports_usd)::varchar "
                    "from marts.trade_balance_monthly"
                ).fetchone()[0]
                mixes += (months, checksum) != (row[1], row[2])
                seen.add(row[0])
                reads += 1
            con.execute("commit")
            time.sleep(0.05)
    print(reads, mixes, len(seen))
    """
)


def wait_for(path: Path, process: subprocess.Popen, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, f"no {path.name} after {timeout_s}s"
        time.sleep(0.2)


def test_two_writers_on_two_hosts_and_a_reader(emulator, lake_services, tmp_path):
    """Writers share only the catalog and the bucket (own data directory each); a reader polls `marts`."""
    shared = lake_services.env(lake_services.create_catalog("trade_two_writers"), "two-writers")
    base = {**os.environ, **shared, "CENSUS_API_BASE_URL": emulator.base_url, "CENSUS_API_KEY": DEMO_API_KEY}
    base.update(CENSUS_API_PACING_S="0", GX_ANALYTICS_ENABLED="False")
    stop, ready = tmp_path / "stop", tmp_path / "reading"
    reader_env = {**base, "TRADE_DATA_DIR": str(tmp_path / "host-r")}
    lake.check(load_settings(reader_env))  # the deployment's first check creates the lake (the DAG's plan task)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(stop), str(ready)],
        env=reader_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(ready, reader)  # reading before any publish: it must see the writers' publishes go by
    writers = {  # their logs to files: a pipe nobody reads until the end could fill and stall them
        host: subprocess.Popen(
            [sys.executable, "-c", WRITER, months],
            env={**base, "TRADE_DATA_DIR": str(tmp_path / host)},
            stdout=(tmp_path / f"{host}.out").open("w"),
            stderr=subprocess.STDOUT,
        )
        for host, months in (("host-a", "2017-01,2017-02"), ("host-b", "2017-03,2017-04"))
    }
    codes = {host: w.wait(timeout=900) for host, w in writers.items()}
    outcomes = {host: (code, "", (tmp_path / f"{host}.out").read_text()) for host, code in codes.items()}
    time.sleep(1)
    stop.touch()
    reader_out, reader_err = reader.communicate(timeout=120)
    for host, (code, _, err) in outcomes.items():
        assert code == 0, f"{host}: {err[-3000:]}"
    assert reader.returncode == 0, reader_err[-3000:]
    reads, mixes, publishes_seen = (int(v) for v in reader_out.split())
    assert reads > 0 and mixes == 0
    # one publish or two: when both loads are in before the first build, it publishes all four
    # months and the second writer's build finds nothing changed (publishes nothing)
    assert publishes_seen >= 1

    with lake.connect(load_settings(shared | {"TRADE_DATA_DIR": str(tmp_path / "host-r")}), read_only=True) as con:
        loads = con.execute(
            "select flow, strftime(month, '%Y-%m'), count(*) from audit.loads where status = 'loaded' group by all"
        ).fetchall()
        months = ["2017-01", "2017-02", "2017-03", "2017-04"]
        assert sorted(loads) == sorted((flow, m, 1) for flow in ("exports", "imports") for m in months)
        # every month's raw rows are exactly its one load's rows
        per_month = con.execute(
            """
            select strftime(r.month, '%Y-%m'), count(distinct r.load_id), count(*), any_value(l.detail_rows)
            from raw.census_exports_hs as r join audit.loads as l using (load_id) group by 1
            """
        ).fetchall()
        assert len(per_month) == 4 and all(ids == 1 and rows == expected for _, ids, rows, expected in per_month)
        assert con.execute("select count(*) from marts.dim_month").fetchone()[0] == 4  # the last publish has all
    conflicts = sum(err.count("conflicted with another writer") for _, _, err in outcomes.values())
    print(f"commit conflicts retried by the writers: {conflicts}")
