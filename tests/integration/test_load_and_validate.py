"""Landed months become raw tables through the GX gate; re-loads are idempotent."""

import logging
import os
import re

import duckdb
import pytest

from trade_warehouse.core.results import PublishResult
from trade_warehouse.load import warehouse
from trade_warehouse.publish.stage import transform_and_publish
from trade_warehouse.sources.census import extract, load_and_validate

pytestmark = pytest.mark.integration


def raw_counts(settings) -> dict:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return {
            table: con.execute(f"select count(*), sum({value}) from {table}").fetchone()
            for table, value in (
                ("raw.census_exports_hs", "all_value_usd"),
                ("raw.census_imports_hs", "gen_value_usd"),
                ("raw.census_exports_totals", "all_value_usd"),
                ("raw.census_imports_totals", "gen_value_usd"),
            )
        }
    finally:
        con.close()


def audit(settings, sql: str) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_load_is_typed_gated_and_idempotent(emulator, settings, caplog, capfd):
    months = ["2017-01", "2017-02"]
    with caplog.at_level(logging.INFO, logger="trade_warehouse"):
        landed = extract(settings, months).landed
        first = load_and_validate(settings, landed, "run-1")
    assert len(first.loaded) == 4 and not first.failures
    # An operator watching the log (Airflow's, or the CLI's) sees each stage's count and the
    # time it still needs. The lines reach stdlib logging or, once Airflow has set up
    # structlog in this process, the console: read both.
    log = caplog.text + "\n".join(capfd.readouterr())
    assert re.search(r"extract exports: 1/2 months; about \d+ (s|min) left", log), log[-3000:]
    assert re.search(r"extract imports: 2/2 months(?!;)", log), log[-3000:]
    loads = list(dict.fromkeys(re.findall(r"\b(load \d/4 [^\n]*?failed[^\n)]*\))", log)))
    assert len(loads) == 4 and re.search(r"^load 1/4 .*; about \d+ (s|min) left\)$", loads[0]), loads
    assert loads[-1].startswith("load 4/4 ") and "left" not in loads[-1], loads
    counts = raw_counts(settings)
    assert all(n > 0 for n, _ in counts.values())

    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    types = dict(
        con.execute(
            "select column_name, data_type from duckdb_columns() where table_name = 'census_exports_hs'"
        ).fetchall()
    )
    leading_zero = con.execute("select count(*) from raw.census_exports_hs where hs_code like '0%'").fetchone()[0]
    distinct_loads = con.execute("select count(distinct load_id) from raw.census_imports_hs").fetchone()[0]
    con.close()
    assert types["all_value_usd"] == "BIGINT" and types["month"] == "DATE" and types["hs_code"] == "VARCHAR"
    assert leading_zero > 0 and distinct_loads == 2

    # same landed bytes: nothing is reloaded, nothing changes
    second = load_and_validate(settings, extract(settings, months).landed, "run-2")
    assert len(second.unchanged) == 4 and not second.loaded
    assert raw_counts(settings) == counts

    # forced reload replaces the months: same rows, new load ids, an audit row per attempt
    third = load_and_validate(settings, landed, "run-3", force=True)
    assert len(third.loaded) == 4
    assert raw_counts(settings) == counts
    rows = audit(settings, "select run_id, status, count(*) from audit.loads group by all order by 1")
    assert rows == [("run-1", "loaded", 4), ("run-2", "unchanged", 4), ("run-3", "loaded", 4)]
    suites = audit(settings, "select distinct suite from audit.validations order by 1")
    assert [s for (s,) in suites] == [
        "census_exports_month",
        "census_imports_month",
        "census_month_reconciliation",
        "census_month_totals",
    ]


def test_failed_validation_keeps_previous_version_and_other_months_load(emulator, settings):
    good = extract(settings, ["2017-03"]).landed
    load_and_validate(settings, good, "run-good")
    before = raw_counts(settings)

    emulator.set_faults(duplicate_rows=True)  # a repeated row breaks the grain and the reconciliation
    bad = extract(settings, ["2017-03"])
    emulator.set_faults()
    other = extract(settings, ["2017-04"])
    result = load_and_validate(settings, bad.landed + other.landed, "run-bad")

    assert {(f.flow, f.month) for f in result.failures} == {("exports", "2017-03"), ("imports", "2017-03")}
    message = result.failures[0].describe()
    assert "on duplicate_partner_hs_code: observed" in message
    assert {(x.flow, x.month) for x in result.loaded} == {("exports", "2017-04"), ("imports", "2017-04")}
    after = raw_counts(settings)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    march = con.execute("select count(*) from raw.census_exports_hs where month = '2017-03-01'").fetchone()[0]
    con.close()
    assert march == before["raw.census_exports_hs"][0]  # previous version of March still in place
    assert after["raw.census_exports_hs"][0] > before["raw.census_exports_hs"][0]  # April added
    failed = audit(settings, "select status, error from audit.loads where run_id = 'run-bad' and status <> 'loaded'")
    assert {s for s, _ in failed} == {"failed_validation"}
    validations = audit(
        settings,
        "select suite, failed_expectations from audit.validations "
        "where run_id = 'run-bad' and not success order by suite",
    )
    assert any(s == "census_exports_month" and "expect_column_values_to_be_between" in f for s, f in validations)
    # the landed file of the failed month stays for inspection
    assert any(p.name.startswith("detail") for p in (settings.landing_dir / "exports" / "HS6" / "2017-03").iterdir())


def test_row_count_band_catches_a_collapse(emulator, settings):
    with warehouse.connect(settings.warehouse_path) as con:
        for month in ("2016-10", "2016-11", "2016-12"):
            warehouse.insert_load_audit(
                con,
                {
                    "load_id": f"fake-{month}",
                    "flow": "exports",
                    "hs_level": "HS6",
                    "month": f"{month}-01",
                    "status": "loaded",
                    "detail_rows": 1_000_000,
                    "finished_at": "2017-01-01 00:00:00",
                },
            )
    result = load_and_validate(settings, extract(settings, ["2017-01"]).landed, "run-band")
    failures = {f.flow: f.describe() for f in result.failures}
    assert "exports" in failures and "on detail_rows, min_rows: observed detail_rows" in failures["exports"]
    assert "imports" not in failures


def test_gx_data_docs_show_the_last_validations(emulator, settings):
    from trade_warehouse.report.data_docs import build_gx_docs

    load_and_validate(settings, extract(settings, ["2017-05"]).landed, "docs-run")
    index = build_gx_docs(settings)
    assert index.endswith("docs/gx/index.html")
    html = (settings.gx_docs_dir / "index.html").read_text()
    # the index lists the results as plain HTML (GX's own index needs CDN scripts to show them)
    assert html.count("<td>passed</td>") == 6 and "census_month_reconciliation" in html
    assert "<script" not in html
    assert (settings.gx_docs_dir / "static").is_dir() and not (settings.gx_docs_dir / "gx_index.html").exists()
    pages = list((settings.gx_docs_dir / "validations").rglob("*.html"))
    assert len(pages) == 6  # 2 flows x 3 suites (month rows, totals, reconciliation)
    assert any("exports-2017-05" in p.name for p in pages)

    # the next build renders only the new results, keeps the pages of the others, and drops
    # the pages of results no longer among the newest `keep`
    from trade_warehouse.report.data_docs import build_data_docs

    before = {p: p.stat().st_mtime_ns for p in pages}
    load_and_validate(settings, extract(settings, ["2017-06"]).landed, "docs-run-2")
    build_gx_docs(settings)
    pages = {p: p.stat().st_mtime_ns for p in (settings.gx_docs_dir / "validations").rglob("*.html")}
    assert len(pages) == 12 and {p: pages[p] for p in before} == before
    html = (settings.gx_docs_dir / "index.html").read_text()
    assert html.count("<td>passed</td>") == 12 and "docs-run-2" in html
    build_data_docs(settings.gx_results_dir, settings.gx_docs_dir, keep=6)
    pages = list((settings.gx_docs_dir / "validations").rglob("*.html"))
    assert len(pages) == 6 and all("2017-06" in p.name for p in pages)
    assert (settings.gx_docs_dir / "index.html").read_text().count("<td>passed</td>") == 6
    # a result saved again (a retried task) gets a new page; its old one goes
    result = next(settings.gx_results_dir.glob("docs-run-2/exports-2017-06-census_month_totals.json"))
    os.utime(result, (result.stat().st_atime, result.stat().st_mtime + 5))
    build_gx_docs(settings)
    assert len(list((settings.gx_docs_dir / "validations").rglob("*.html"))) == 12
    build_data_docs(settings.gx_results_dir, settings.gx_docs_dir, keep=6)
    now = {p: p.stat().st_mtime_ns for p in (settings.gx_docs_dir / "validations").rglob("*.html")}
    assert len(now) == 6 and sum(p not in pages for p in now) == 1


def test_a_month_fetched_in_parts_is_the_same_data_as_fetched_whole(emulator, settings):
    from trade_warehouse.load.landing import latest_extraction

    first = load_and_validate(settings, extract(settings, ["2017-01"]).landed, "whole")
    assert len(first.loaded) == 2
    assert transform_and_publish(settings, "whole").published
    counts = raw_counts(settings)
    loads = audit(settings, "select flow, load_id from audit.loads where status = 'loaded' order by 1")

    emulator.state.row_budget = 1500  # the server now refuses whole months: the same month arrives in parts
    again = extract(settings, ["2017-01"])
    assert {latest_extraction(settings.landing_dir, f, "HS6", "2017-01")["mode"] for f in ("exports", "imports")} == {
        "split"
    }
    second = load_and_validate(settings, again.landed, "split")
    assert len(second.unchanged) == 2 and not second.loaded and not second.failures
    assert raw_counts(settings) == counts
    assert audit(settings, "select flow, load_id from audit.loads where status = 'loaded' order by 1") == loads
    reasons = audit(settings, "select error from audit.loads where run_id = 'split'")
    assert all("other files, same rows" in r for (r,) in reasons), reasons
    # nothing changed for readers either: no dbt build, no new snapshot
    assert transform_and_publish(settings, "split") == PublishResult(published=False, reason="unchanged")

    # a forced reload still reloads (same rows, new load ids)
    forced = load_and_validate(settings, again.landed, "forced", force=True)
    assert len(forced.loaded) == 2 and raw_counts(settings) == counts


def test_status_answers_while_a_run_holds_the_writer(emulator, settings):
    import os
    import subprocess
    import sys

    load_and_validate(settings, extract(settings, ["2017-05"]).landed, "status-run")
    env = dict(os.environ, TRADE_DATA_DIR=str(settings.data_dir))

    def status() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "trade_warehouse", "status"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    with warehouse.connect(settings.warehouse_path):  # a writer holds the file: DuckDB refuses any other open
        busy = status()
    assert busy.returncode == 0, busy.stderr
    assert "the warehouse is busy" in busy.stdout
    lines = [line.split() for line in busy.stdout.splitlines() if line.startswith("2017-05")]
    assert [line[:2] for line in lines] == [["2017-05", "exports"], ["2017-05", "imports"]]
    assert all("not" in line and "whole" in line for line in lines)  # not published yet; fetched whole

    free = status()
    assert free.returncode == 0 and "busy" not in free.stdout
    assert [line.split()[:3] for line in free.stdout.splitlines() if line.startswith("2017-05")] == [
        ["2017-05", "exports", "loaded"],
        ["2017-05", "imports", "loaded"],
    ]


def test_a_moved_data_directory_reloads_from_its_landing_zone_and_publishes(emulator, settings, tmp_path):
    """The manifests record where files were written; after the data directory moves (a restored
    backup, a volume mounted elsewhere) a forced reload still reads them, and the month is published."""
    import dataclasses
    import shutil

    from duck import query

    load_and_validate(settings, extract(settings, ["2017-03"]).landed, "before the move")
    assert transform_and_publish(settings, "before the move").published
    moved = dataclasses.replace(settings, data_dir=tmp_path / "moved" / "data")
    shutil.move(settings.data_dir, moved.data_dir)
    assert not settings.data_dir.exists()

    reloaded = load_and_validate(moved, extract_landed(moved, "2017-03"), "after the move", force=True)
    assert not reloaded.failures and sorted(x.flow for x in reloaded.loaded) == ["exports", "imports"], reloaded
    published = transform_and_publish(moved, "after the move", force=True)
    assert published.published and published.serving_path == str(moved.serving_path)
    load_ids = {
        flow: load_id
        for flow, load_id in query(
            moved.warehouse_path,
            "select flow, load_id from audit.loads where run_id = 'after the move' and status = 'loaded'",
        )
    }
    assert query(moved.serving_path, "select strftime(month, '%Y-%m') from marts.dim_month") == [("2017-03",)]
    assert query(moved.serving_path, "select load_id from meta.month_versions where flow = 'exports'") == [
        (load_ids["exports"],)
    ]


def extract_landed(settings, month: str):
    """The flow-months a from-landing run loads (no API call)."""
    from trade_warehouse.sources.census import landed_targets

    return landed_targets(settings, [month]).landed


def test_flows_load_side_by_side_exactly_as_one_after_the_other(emulator, settings, tmp_path):
    """``TRADE_LOAD_LANES``: exports and imports load on two connections at once (both cores
    busy), and the raw tables and audit rows are the same as when one lane loads them in turn."""
    import dataclasses
    import shutil

    from duck import query

    from trade_warehouse.sources.census import landed_targets

    months = ["2017-02", "2017-03", "2017-04"]
    landed = extract(settings, months).landed
    one_lane = dataclasses.replace(settings, data_dir=tmp_path / "one-lane" / "data", load_lanes=1)
    shutil.copytree(settings.landing_dir, one_lane.landing_dir)
    both = load_and_validate(settings, landed, "two lanes")
    # the two flows were loading at the same time: their load intervals overlap
    spans = dict(
        query(
            settings.warehouse_path,
            "select flow, [min(started_at), max(finished_at)] from audit.loads group by flow",
        )
    )
    assert max(s[0] for s in spans.values()) < min(s[1] for s in spans.values()), spans
    alone = load_and_validate(one_lane, landed_targets(one_lane, months).landed, "one lane")
    assert len(both.loaded) == len(alone.loaded) == 6 and not both.failures and not alone.failures

    def content(target) -> dict:
        tables = ("census_exports_hs", "census_imports_hs", "census_exports_totals", "census_imports_totals")
        rows = {
            table: query(
                target.warehouse_path,
                f"select * exclude (load_id, loaded_at) from raw.{table} order by all",
            )
            for table in tables
        }
        rows["audit"] = query(
            target.warehouse_path,
            "select flow, month, status, detail_rows, data_sha256 from audit.loads order by all",
        )
        return rows

    assert content(settings) == content(one_lane)
