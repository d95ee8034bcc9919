"""Smoke test of ``make bench`` (tools/bench/): one tiny window at the small scale.

The real bench runs full-scale windows and cached 84-month histories for many minutes;
here one month goes through the real DAG (emulator subprocess, ``dag_runner`` child,
Airflow task instances) and the floor, and the appended result must hold real numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

from tools.bench import harness as bench


def test_bench_measures_a_dag_run_and_the_floor(tmp_path: Path, airflow_db: Path, capsys) -> None:
    results = tmp_path / "results.jsonl"
    results.write_text('{"schema": 1, "scenario": "older run"}\n')  # appended to, never rewritten
    code = bench.main(
        [
            "--scale",
            "small",
            "--from",
            "2017-01",
            "--to",
            "2017-01",
            "--scenarios",
            "backfill",
            "--bench-dir",
            str(tmp_path / "bench"),
            "--results",
            str(results),
            "--label",
            "smoke",
        ]
    )
    assert code == 0
    lines = results.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["scenario"] == "older run"
    record = json.loads(lines[1])
    assert (record["schema"], record["scenario"], record["label"], record["state"]) == (
        1,
        "backfill",
        "smoke",
        "success",
    )
    stages = {s["stage"]: s for s in record["stages"]}
    # the stages are the Airflow task instances of the run, with their own timings
    assert {"plan", "extract", "load", "transform_and_publish", "report", "finish"} <= set(stages)
    assert all(stages[t]["state"] == "success" for t in ("extract", "load", "transform_and_publish"))
    assert stages["transform_and_publish"]["wall_s"] > 0 and stages["load"]["wall_s"] > 0
    assert 0 < stages["load"]["peak_rss_mb"] <= record["peak_rss_mb"]
    # load -> publish spans the load and the transform, and is set against the floor
    assert record["after_extract_s"] >= stages["load"]["wall_s"] + stages["transform_and_publish"]["wall_s"] - 0.5
    floor = record["floor"]
    assert floor["rows"] == record["detail_rows"] > 1000  # the floor read exactly the rows the run landed
    assert floor["mart_rows"]["balance_monthly"] > 0 and floor["mart_rows"]["partner_chapter_monthly"] > 0
    assert record["after_extract_ratio"] == round(record["after_extract_s"] / floor["wall_s"], 2)
    assert len(record["load_avg_before"]) == 3 and record["git"]["commit"]
    printed = capsys.readouterr().out
    assert "DuckDB floor" in printed and "transform_and_publish" in printed
    assert not (tmp_path / "bench" / "runs" / "backfill-small-2017-01..2017-01").exists()  # scratch removed
