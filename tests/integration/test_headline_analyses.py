"""The four headline questions the warehouse exists for, answered by the saved dbt analyses on emulator data.

The emulator is calibrated to published Census-basis figures, so
the answers must match them: Japan about -$69 billion in 2016 with cars (8703) first,
Korea's deficit more than doubling from 2011 to 2016.
"""

import json
import os
import re
import shutil
import struct
import subprocess
import threading
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest
import report_states

from trade_warehouse.core.config import Settings
from trade_warehouse.core.months import month_range
from trade_warehouse.emulator import DEMO_API_KEY
from trade_warehouse.emulator.server import EmulatorState, make_server
from trade_warehouse.emulator.synthetic import Universe
from trade_warehouse.publish.contract import published_models
from trade_warehouse.publish.stage import transform_and_publish
from trade_warehouse.sources.census import extract, load_and_validate
from trade_warehouse.transform.dbt_runner import compiled_analysis

pytestmark = pytest.mark.integration


def run(settings, name: str) -> list[dict]:
    con = duckdb.connect(str(settings.serving_path), read_only=True)
    try:
        cursor = con.execute(compiled_analysis(settings, name))
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    """One published warehouse for the module: 2011, 2016 and early 2017 from the emulator."""
    state = EmulatorState(universe=Universe("small"), api_keys=frozenset([DEMO_API_KEY]), latest_month="2017-06")
    server = make_server(state)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    settings = Settings(
        base_url=f"http://{host}:{port}/data/timeseries/intltrade",
        api_key=DEMO_API_KEY,
        data_dir=tmp_path_factory.mktemp("headline") / "data",
        hs_level="HS6",
        pacing_s=0.0,
    )
    try:
        months = month_range("2011-01", "2011-12") + month_range("2016-01", "2016-12") + ["2017-01", "2017-02"]
        result = load_and_validate(settings, extract(settings, months).landed, "headline")
        assert not result.failures
        with patched_env(settings):
            assert transform_and_publish(settings, "headline").published
        yield settings
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def patched_env(settings):
    saved = {k: os.environ.get(k) for k in ("TRADE_DATA_DIR",)}
    os.environ["TRADE_DATA_DIR"] = str(settings.data_dir)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_headline_questions_and_documentation(settings):
    japan = run(settings, "japan_deficit_and_drivers")
    assert [r["rank_in_partner"] for r in japan] == [1, 2, 3, 4, 5]
    assert japan[0]["year"] == 2016 and japan[0]["hs_code"] == "8703"
    assert japan[0]["partner_balance_usd"] == pytest.approx(-68.94e9, rel=0.005)
    assert 0.5 < japan[0]["share_of_partner_balance"] < 1.0

    korea = {r["year"]: r for r in run(settings, "korea_before_after_korus")}
    assert korea[2011]["balance_usd"] == pytest.approx(-13.2e9, rel=0.005)
    assert korea[2016]["balance_usd"] == pytest.approx(-27.57e9, rel=0.005)
    assert korea[2016]["deficit_ratio_to_2011"] > 2.0

    named = {(r["year"], r["item"]): r["value_usd"] for r in run(settings, "japan_named_commodities")}
    for item in ("LNG exports", "coal exports", "potato exports", "car imports"):
        assert named[(2016, item)] > 0, item
    assert named[(2016, "car imports")] == pytest.approx(0.38 * 132.24e9, rel=0.01)

    top = run(settings, "top_deficit_partners_ytd")
    assert len(top) == 10 and [r["deficit_rank"] for r in top] == list(range(1, 11))
    assert top[0]["partner_name"] == "CHINA"
    assert all(r["balance_ytd_usd"] < 0 for r in top)
    # the same period a year earlier (2016-01..02) is loaded, so the change is known
    assert all(r["change_usd"] == r["balance_ytd_usd"] - r["balance_ytd_year_ago_usd"] for r in top)
    assert (settings.dbt_docs_dir / "index.html").stat().st_size > 10_000

    # every model is described, and so is every column BI tools see in the marts
    manifest = json.loads((settings.data_dir / "dbt" / "target" / "manifest.json").read_text())
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert all(node["description"].strip() for node in models.values())
    con = duckdb.connect(str(settings.serving_path), read_only=True)
    for table in (m.name for m in published_models(settings)):
        columns = [
            c
            for (c,) in con.execute(
                "select column_name from duckdb_columns() where schema_name = 'marts' and table_name = ?", [table]
            ).fetchall()
        ]
        documented = {name for name, c in models[table]["columns"].items() if c["description"].strip()}
        assert set(columns) <= documented, (table, set(columns) - documented)
    con.close()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
    "--window-size=1280,2000",
]


def chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    if not Path(CHROMIUM).exists():
        pytest.fail("the report test needs Debian's chromium: apt-get install -y chromium (make test-deps installs it)")
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def test_report_renders_in_a_browser_with_the_marts_numbers(settings, tmp_path):
    from trade_warehouse.report.html import render

    page = render(settings)
    url = page.resolve().as_uri()
    dom = chromium(tmp_path, "--dump-dom", url)
    assert "Uncaught" not in dom.stderr and "CONSOLE" not in dom.stderr, dom.stderr[-2000:]
    document = dom.stdout
    for chart in ("top-deficits-chart", "ytd-deficits-chart", "trend-chart", "drivers-chart"):
        match = re.search(rf'<svg id="{chart}".*?</svg>', document, re.S)
        assert match, chart
        assert len(re.findall(r"<rect |<polyline ", match.group(0))) >= 5, chart
    assert "Synthetic data from the Census API emulator" in document
    assert 'href="../../docs/gx/index.html"' in document and 'href="../../docs/dbt/index.html"' in document

    table = re.search(r'<table id="top-deficits-table">(.*?)</table>', document, re.S).group(1)
    shown = [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", table)[1:]]
    con = duckdb.connect(str(settings.serving_path), read_only=True)
    expected = con.execute(
        "select partner_name, exports_usd, imports_usd, balance_usd from marts.trade_balance_annual "
        "where year = 2016 and deficit_rank <= 10 order by deficit_rank, partner_code"
    ).fetchall()
    con.close()
    assert shown == [
        [n.replace("&", "&amp;"), f"{e / 1e9:,.1f}", f"{i / 1e9:,.1f}", f"{b / 1e9:,.1f}"] for n, e, i, b in expected
    ]

    screenshot = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={screenshot}", url)
    header = screenshot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1280, 2000)
    assert screenshot.stat().st_size > 50_000  # a blank page compresses to a few kB


def test_report_state_section_on_the_pipelines_marts(settings, tmp_path):
    """Which states ship the watchlist goods to Japan and where its cars land (2016), as the report
    shows it, equal to the state marts the pipeline built; the emulator's planted states lead.
    A snapshot without the state marts (published before them) renders without the section."""
    from trade_warehouse.report.html import DEFAULT_TREND_PARTNERS, render, report_data, templates

    page = render(settings).read_text(encoding="utf-8")
    con = duckdb.connect(str(settings.serving_path), read_only=True)
    try:
        expected = report_states.expected_states(con, "5880", 2016)
    finally:
        con.close()
    shown = report_states.shown_states(page)
    assert shown == expected
    assert "Which states ship the watchlist goods to JAPAN, and where its cars land, 2016" in page
    potatoes, lng, coal, cars = ({name for name, _, _ in good["states"]} for good in shown)
    assert {"Idaho", "Washington"} <= potatoes and {"Louisiana", "Texas"} <= lng
    assert {"Virginia", "West Virginia"} <= coal and {"California", "New Jersey", "Maryland"} <= cars

    old = tmp_path / "before-state-marts.duckdb"
    shutil.copy(settings.serving_path, old)
    con = duckdb.connect(str(old))
    try:
        for name, kind in con.execute(
            "select table_name, 'table' from duckdb_tables() where schema_name = 'marts' "
            "union all select view_name, 'view' from duckdb_views() where schema_name = 'marts'"
        ).fetchall():
            if name in ("state_trade_monthly", "state_trade_annual", "dim_state"):
                con.execute(f"drop {kind} marts.{name}")
        data = report_data(con, DEFAULT_TREND_PARTNERS, "5880")
    finally:
        con.close()
    old_page = templates().get_template("report.html.j2").render(r=data)
    assert data["states"] is None and 'id="states"' not in old_page
    assert '<table id="top-deficits-table">' in old_page and '<svg id="trend-chart"' in old_page
