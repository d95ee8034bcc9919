"""Smoke test of ``make bench BACKEND=ducklake BENCH_ARGS=--local-lake`` (tools/bench/lake.py).

The lake's figures need a PostgreSQL catalog and an S3 store; ``--local-lake`` starts both
on 127.0.0.1 as the lake tests do. One small month goes through the real DAG into a lake
on them, and nothing of them is left afterwards. Apart from ``test_bench.py`` so that the
test workers (``--dist loadfile``) can run the two files side by side.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

from tools.bench import harness as bench

LAKE_SETTINGS = (
    "TRADE_WAREHOUSE_BACKEND",
    "TRADE_DUCKLAKE_CATALOG",
    "TRADE_DUCKLAKE_DATA_PATH",
    "PGPASSWORD",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
)


def test_bench_measures_the_lake_on_services_it_starts(tmp_path: Path, airflow_db: Path, monkeypatch) -> None:
    """``--backend ducklake --local-lake``: a lake run on PostgreSQL and s3rver started for it, stopped after."""
    before = {name: os.environ.get(name) for name in LAKE_SETTINGS}
    roots: list[Path] = []  # the services' own directory (cluster and bucket), not other workers' lakes
    make_dir = tempfile.mkdtemp

    def recorded(*args, **kwargs) -> str:
        path = make_dir(*args, **kwargs)
        if Path(path).name.startswith("tw-lake-"):
            roots.append(Path(path))
        return path

    monkeypatch.setattr(tempfile, "mkdtemp", recorded)
    results = tmp_path / "results.jsonl"
    arguments = ["--scale", "small", "--from", "2017-01", "--to", "2017-01", "--scenarios", "backfill"]
    arguments += ["--backend", "ducklake", "--local-lake", "--bench-dir", str(tmp_path / "bench")]
    assert bench.main([*arguments, "--results", str(results)]) == 0
    record = json.loads(results.read_text().splitlines()[-1])
    assert (record["backend"], record["scenario"], record["state"]) == ("ducklake", "backfill", "success")
    stages = {s["stage"]: s for s in record["stages"]}
    assert all(stages[t]["state"] == "success" for t in ("load", "transform_and_publish", "report"))
    assert record["floor"]["rows"] == record["detail_rows"] > 1000
    assert "S3RVER" not in results.read_text()  # the store's key pair stays out of the record
    # the services' settings were the run's only, and their cluster and bucket are gone
    assert {name: os.environ.get(name) for name in LAKE_SETTINGS} == before
    assert len(roots) == 1 and not roots[0].exists()


def test_bench_local_lake_needs_the_lake_backend(capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        bench.parse_args(["--local-lake"])
    assert stopped.value.code == 2
    assert "--local-lake starts the services of a lake: it needs --backend ducklake" in capsys.readouterr().err
