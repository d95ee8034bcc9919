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


def test_bench_history_reloads_the_window_from_its_landed_files(tmp_path: Path, airflow_db: Path, capsys) -> None:
    """The ``history`` scenario on a two-month window: built once (extracted), then reloaded from landing."""
    results = tmp_path / "results.jsonl"
    backfill = {"scenario": "backfill", "months": 12, "scale": "small", "after_extract_s": 24.0, "recorded_at": "x"}
    results.write_text(json.dumps(backfill) + "\n")  # the 12-month backfill the per-month cost is set against
    arguments = ["--scale", "small", "--scenarios", "history", "--history-from", "2017-01", "--history-to", "2017-02"]
    arguments += ["--bench-dir", str(tmp_path / "bench"), "--results", str(results)]
    assert bench.main(arguments) == 0
    record = json.loads(results.read_text().splitlines()[-1])
    assert (record["scenario"], record["state"], record["window"], record["months"]) == (
        "history",
        "success",
        "2017-01..2017-02",
        2,
    )
    stages = {s["stage"]: s for s in record["stages"]}
    assert stages["load"]["state"] == "success" and stages["transform_and_publish"]["state"] == "success"
    assert record["floor"]["rows"] == record["detail_rows"] > 2000  # the floor read the same landed files
    assert record["target_after_extract_s"] == round(3 * record["floor"]["wall_s"] + 60, 1)
    assert record["per_month_s"] == round(record["after_extract_s"] / 2, 2) > 0
    assert record["per_month_vs_12"] == round(record["per_month_s"] / 2.0, 2)
    assert record["state_level"] == {"enabled": False}  # the default: national data only, like the floor
    # the cached history (extracted once) stays for the next run; the reload's scratch dir is removed
    cache = tmp_path / "bench" / "small-2017-01..2017-02"
    assert json.loads((cache / "build.done").read_text())["state"] == "off"
    # built as measured: the cache extracted the national flows only (it once took the pipeline's default, on)
    assert list((cache / "landing" / "census").glob("state_*/*/*/extractions.jsonl")) == []
    assert len(list((cache / "landing" / "census").glob("exports/HS6/*/extractions.jsonl"))) == 2
    assert not (tmp_path / "bench" / "runs" / "history-small-2017-01..2017-02").exists()
    assert "whole-history reload" in capsys.readouterr().out
