"""BI tools keep querying the serving snapshot while a backfill loads and publishes.

Two separate processes hold read-only connections (SQLAlchemy + duckdb-engine, as
Superset does, and the duckdb client) and query the marts in a loop. The writer must
never be blocked, no query may fail, and every answer must be the old or the new
snapshot's totals, never a mix.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from trade_warehouse.orchestration.dag_runner import run_dag
from trade_warehouse.publish.stage import transform_and_publish
from trade_warehouse.sources.census import extract, load_and_validate

pytestmark = pytest.mark.integration
READER = Path(__file__).resolve().parent.parent / "support" / "bi_reader.py"


def totals(path) -> tuple:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return tuple(
            int(v)
            for v in con.execute(
                "select count(*), sum(exports_usd), sum(imports_usd) from marts.trade_balance_monthly"
            ).fetchone()
        )
    finally:
        con.close()


def wait_until_seen(readers: dict, result: tuple, timeout_s: float = 300) -> None:
    """Block until every reader has reported ``result`` (a handshake, not a guess of how long)."""
    deadline = time.monotonic() + timeout_s
    for mode, (process, out) in readers.items():
        seen_file = out.with_name(out.name + ".seen")
        while not (seen_file.exists() and list(result) in json.loads(seen_file.read_text())):
            assert process.poll() is None, f"reader {mode} exited early"
            assert time.monotonic() < deadline, f"reader {mode} never saw {result}"
            time.sleep(0.1)


def test_readers_never_fail_and_never_see_a_mix(airflow_db, emulator, settings, tmp_path):
    load_and_validate(settings, extract(settings, ["2017-01", "2017-02"]).landed, "before")
    assert transform_and_publish(settings, "before").published
    old = totals(settings.serving_path)

    stop = tmp_path / "stop"
    readers = {
        mode: (
            subprocess.Popen(
                [
                    sys.executable,
                    str(READER),
                    mode,
                    str(settings.serving_path),
                    str(stop),
                    str(tmp_path / f"{mode}.json"),
                ]
            ),
            tmp_path / f"{mode}.json",
        )
        for mode in ("sqlalchemy", "duckdb")
    }
    try:
        wait_until_seen(readers, old)  # both readers connected and querying the old snapshot
        result = run_dag({"start_month": "2017-03", "end_month": "2017-04"})
        assert result["state"].endswith("success"), result
        new = totals(settings.serving_path)
        assert new != old
        wait_until_seen(readers, new)  # both reconnected and see the new snapshot
    finally:
        stop.touch()
        for process, _ in readers.values():
            process.wait(timeout=60)

    for mode, (process, out) in readers.items():
        report = json.loads(out.read_text())
        assert process.returncode == 0, mode
        assert report["errors"] == [], (mode, report["errors"][:3])
        assert report["queries"] > 20, mode
        seen = {tuple(r) for r in report["distinct_results"]}
        assert seen <= {old, new}, (mode, seen, old, new)
        assert new in seen and old in seen, mode
