"""Superset checks shared by the dashboard tests on both backends (tests/bi/test_superset*.py).

What a chart must show is computed from the published marts read directly (the serving file,
or the lake attached read-only), never through Superset's datasets; Superset is reached
over its REST API as the admin, and the dashboard opened in Debian's Chromium.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest

from trade_warehouse.bi import superset as bi
from trade_warehouse.core.config import Settings
from trade_warehouse.publish.serving import open_served
from trade_warehouse.publish.stage import transform_and_publish
from trade_warehouse.sources.census import extract, load_and_validate

FIRST_MONTHS = [f"2016-{m:02d}" for m in range(1, 13)] + ["2017-01"]  # one full year, then January
NEW_MONTH = "2017-02"
FOCUS_PARTNERS = ("5880", "5800", "5700", "2010", "4280")  # Japan, Korea, China, Mexico, Germany
CHART_COUNT = 9
STATE_MAP = "Exports by state to the chosen partner (latest full year)"
WATCHLIST = "Watchlist goods by state: Japan"
STATE_YEAR = 2016  # the latest full year of FIRST_MONTHS (and still after NEW_MONTH)
# the watchlist chart's goods: HS4 code, label, which flow with Japan
WATCHLIST_GOODS = (
    ("0701", "Potatoes (0701)", "exports to Japan"),
    ("2711", "LNG and other petroleum gases (2711)", "exports to Japan"),
    ("2701", "Coal (2701)", "exports to Japan"),
    ("8703", "Cars (8703)", "imports from Japan"),
)
USA_MAP_REGIONS = 51  # Superset's usa geojson: the 50 states and DC
SCREENSHOT_DIR = Path(os.environ.get("TRADE_BI_SCREENSHOT_DIR", "/tmp"))


def query(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    """Rows of the published state read directly, as a user would (the file, or the lake), not through Superset."""
    with open_served(settings) as con:
        return con.execute(sql, params or []).fetchall()


def epoch_ms(day: date) -> float:
    """Superset's JSON gives temporal columns as epoch milliseconds (UTC)."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    """Superset's REST API as the admin: JWT login, plus the CSRF token its POST/PUT endpoints want."""

    def __init__(self, server: bi.Superset) -> None:
        self.client = httpx.Client(base_url=server.url, timeout=120)
        login = self.client.post(
            "/api/v1/security/login",
            json={"username": "admin", "password": server.admin_password, "provider": "db", "refresh": True},
        )
        assert login.status_code == 200, login.text
        self.client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        csrf = self.client.get("/api/v1/security/csrf_token/")
        assert csrf.status_code == 200, csrf.text
        self.client.headers.update({"X-CSRFToken": csrf.json()["result"], "Referer": server.url})

    def chart_data(self, chart_id: int) -> dict:
        response = self.client.get(f"/api/v1/chart/{chart_id}/data/")
        assert response.status_code == 200, response.text[:2000]
        return response.json()["result"][0]

    def sql(self, database_id: int, sql: str) -> httpx.Response:
        return self.client.post(
            "/api/v1/sqllab/execute/",
            json={
                "database_id": database_id,
                "sql": sql,
                "runAsync": False,
                "schema": "marts",
                "client_id": os.urandom(5).hex(),
            },
        )


def state_exports(published: Settings, partner_code: str | None = None, hs4: str | None = None) -> list[dict]:
    """Exports by state (ISO 3166-2) in STATE_YEAR, to one partner or all, of one HS4 heading or all goods.

    All goods are read at HS2, one heading at HS4: every level of state_trade_monthly holds the
    same totals, so this also holds the map (which reads HS4) to the marts' contract.
    """
    sql = (
        "select d.iso_3166_2, sum(s.exports_usd) from marts.state_trade_monthly s "
        "join marts.dim_state d using (state_code) where d.is_state and year(s.month) = ? "
    )
    params: list = [STATE_YEAR]
    if partner_code:
        sql += "and s.partner_code = ? "
        params.append(partner_code)
    if hs4:
        sql += "and s.hs_level = 4 and s.hs_code = ? "
        params.append(hs4)
    else:
        sql += "and s.hs_level = 2 "
    return [{"iso_3166_2": iso, "exports_usd": v} for iso, v in query(published, sql + "group by 1 order by 1", params)]


def expected_watchlist(published: Settings) -> list[dict]:
    """The watchlist table: per good, the five states trading most of it with Japan in STATE_YEAR."""
    rows = []
    for code, good, flow in WATCHLIST_GOODS:
        value = "imports_usd" if flow.startswith("imports") else "exports_usd"
        states = query(
            published,
            f"""
            select d.state_name, sum(s.{value}), sum(s.{value}) / sum(sum(s.{value})) over ()
            from marts.state_trade_monthly s join marts.dim_state d using (state_code)
            where s.partner_code = '5880' and s.hs_level = 4 and s.hs_code = ? and year(s.month) = ?
            group by d.state_name, s.state_code having sum(s.{value}) > 0
            order by 2 desc, s.state_code limit 5
            """,
            [code, STATE_YEAR],
        )
        assert states, f"no state trades {good} with Japan in {STATE_YEAR}"
        rows += [
            {
                "good": good,
                "flow": flow,
                "rank_in_good": rank,
                "state_name": name,
                "value_usd": v,
                "share_of_good": share,
                "year": STATE_YEAR,
            }
            for rank, (name, v, share) in enumerate(states, start=1)
        ]
    return sorted(rows, key=lambda r: (r["flow"], r["good"], r["rank_in_good"]))  # the chart's order


def expected_charts(published: Settings, latest: str) -> dict[str, list[dict]]:
    """What each chart must show, computed straight from the marts (not through the datasets' SQL)."""
    latest_day = date.fromisoformat(f"{latest}-01")
    year_before = latest_day.replace(year=latest_day.year - 1)

    def rows(sql: str, columns: list[str], params: list | None = None) -> list[dict]:
        return [dict(zip(columns, r, strict=True)) for r in query(published, sql, params)]

    ytd = rows(
        """
        select rank() over (order by c.balance_ytd_usd), c.partner_name, c.balance_ytd_usd, p.balance_ytd_usd, c.month
        from marts.trade_balance_monthly c
        left join marts.trade_balance_monthly p on p.partner_code = c.partner_code and p.month = ?
        where c.month = ? and c.balance_ytd_usd < 0 order by c.balance_ytd_usd limit 10
        """,
        ["ytd_deficit_rank", "partner_name", "balance_ytd_usd", "balance_ytd_prior_year_usd", "ytd_through"],
        [year_before, latest_day],
    )
    for row in ytd:
        row["ytd_through"] = epoch_ms(row["ytd_through"])
    balance = rows(
        "select month, partner_name, sum(balance_usd) from marts.trade_balance_monthly "
        f"where partner_code in {FOCUS_PARTNERS} group by all order by month, partner_name",
        ["month", "partner_name", "balance_usd"],
    )
    exports = rows(
        """
        select month, case hs_code when '271111' then 'LNG (HS 271111)' when '2701' then 'Coal (HS 2701)'
                      else 'Potatoes (HS 0701)' end as product, sum(exports_usd)
        from marts.commodity_trade_monthly
        where partner_code = '5880' and ((hs_level = 6 and hs_code = '271111') or (hs_level = 4 and hs_code in ('2701', '0701')))
        group by all order by month, product
        """,
        ["month", "product", "exports_usd"],
    )
    for row in balance + exports:
        row["month"] = epoch_ms(row["month"])
    return {
        "Top-10 deficit partners, latest full year": rows(
            "select deficit_rank, partner_name, balance_usd, exports_usd, imports_usd, year "
            "from marts.trade_balance_annual where year = 2016 and deficit_rank <= 10 order by deficit_rank",
            ["deficit_rank", "partner_name", "balance_usd", "exports_usd", "imports_usd", "year"],
        ),
        "Top-10 deficit partners, year to date": ytd,
        "Monthly balance: Japan, Korea, China, Mexico, Germany": balance,
        "HS4 products driving the deficit with Japan": rows(
            "select rank_in_partner, hs_code, hs_description, balance_usd, share_of_partner_balance, exports_usd, "
            "imports_usd, year from marts.commodity_balance_annual "
            "where partner_code = '5880' and year = 2016 and rank_in_partner <= 10 order by rank_in_partner",
            [
                "rank_in_partner",
                "hs_code",
                "hs_description",
                "balance_usd",
                "share_of_partner_balance",
                "exports_usd",
                "imports_usd",
                "year",
            ],
        ),
        "Exports to Japan: LNG, coal, potatoes": exports,
        STATE_MAP: state_exports(published),  # the chart's own query: every partner and good
        WATCHLIST: expected_watchlist(published),
        "Two sides of the balance: U.S.-reported vs partner-reported": rows(
            "select year, partner_name, us_reported_balance_usd, partner_reported_balance_usd, export_asymmetry_pct, "
            "import_asymmetry_pct, us_months_covered, partner_months_covered from marts.mirror_trade_annual "
            "where year = coalesce((select max(year) from marts.mirror_trade_annual where partner_months_covered > 0), "
            "(select max(year) from marts.mirror_trade_annual)) order by us_reported_balance_usd",
            [
                "year",
                "partner_name",
                "us_reported_balance_usd",
                "partner_reported_balance_usd",
                "export_asymmetry_pct",
                "import_asymmetry_pct",
                "us_months_covered",
                "partner_months_covered",
            ],
        ),
    }


def check_charts_match_marts(api: Api, server: bi.Superset, published: Settings, latest: str) -> dict[str, dict]:
    """Every chart's data through Superset's API equals the marts; returns the API results by chart."""
    assert len(server.charts) == CHART_COUNT, server.charts
    assert server.unreadable_datasets == {}, server.unreadable_datasets
    results = {name: api.chart_data(chart_id) for name, chart_id in server.charts.items()}
    for name, expected in expected_charts(published, latest).items():
        assert expected, f"{name}: the marts have no rows to compare with"
        assert results[name]["data"] == expected, name

    published_at, last_month, synthetic = query(
        published, "select published_at, last_month, synthetic from meta.publish"
    )[0]
    checks, failed = query(
        published, "select count(*), count(*) filter (where not success) from meta.validation_status"
    )[0]
    assert synthetic and failed == 0 and checks > 0
    (fresh,) = results["Data freshness"]["data"]
    assert fresh["latest_month"] == epoch_ms(last_month) == epoch_ms(date.fromisoformat(f"{latest}-01"))
    assert fresh["published_at"] == pytest.approx(published_at.replace(tzinfo=UTC).timestamp() * 1000, abs=1)
    assert fresh["validation_status"] == f"all {checks} checks passed"
    assert fresh["data_notice"].startswith("SYNTHETIC DATA from the Census API emulator")

    korus = results["Monthly balance: Japan, Korea, China, Mexico, Germany"]["annotation_data"]
    (layer,) = korus.values()
    assert [(r["short_descr"], r["start_dttm"]) for r in layer["records"]] == [
        ("KORUS in force", epoch_ms(date(2012, 3, 15)))
    ]
    return results


def native_filters(api: Api, server: bi.Superset) -> dict[str, dict]:
    """The dashboard's native filters as Superset holds them after the import, by name."""
    response = api.client.get(f"/api/v1/dashboard/{server.dashboard_id}")
    assert response.status_code == 200, response.text[:2000]
    metadata = json.loads(response.json()["result"]["json_metadata"])
    return {f["name"]: f for f in metadata["native_filter_configuration"]}


def check_state_map_filters(api: Api, server: bi.Superset, published: Settings) -> None:
    """The state map's native filters as imported, and the map's query under them, equal to the marts.

    Partner (required, JAPAN by default), HS chapter and HS code target the map's dataset and
    reach only the map (its row, less the watchlist table). The map's saved query with the
    partner filter's default is what the dashboard opens with: Japan's exports by state; with
    the HS code filter on potatoes' heading (a value of the filter's own column), potatoes'.
    """
    filters = native_filters(api, server)
    assert set(filters) == {"Partner", "HS chapter", "HS code"}, filters.keys()
    chart = api.client.get(f"/api/v1/chart/{server.charts[STATE_MAP]}").json()["result"]
    dataset_id = json.loads(chart["query_context"])["datasource"]["id"]
    for name, native in filters.items():
        assert [t["datasetId"] for t in native["targets"]] == [dataset_id], name
        assert native["scope"] == {"rootPath": ["ROW-states"], "excluded": [server.charts[WATCHLIST]]}, name
    partner = filters["Partner"]
    assert partner["controlValues"]["enableEmptyFilter"] and not partner["controlValues"]["multiSelect"]
    default = partner["defaultDataMask"]["extraFormData"]["filters"]
    assert default == [{"col": "partner_name", "op": "IN", "val": ["JAPAN"]}], default
    assert partner["defaultDataMask"]["filterState"]["value"] == ["JAPAN"]
    assert filters["HS code"]["cascadeParentIds"] == [filters["HS chapter"]["id"]]

    def data(columns: list[str], metrics: list[str], where: list[dict]) -> list[dict]:
        """The map's saved query (its dataset, limit, order) with other columns and filters."""
        body = json.loads(chart["query_context"])
        body["queries"][0].update(columns=columns, metrics=metrics, filters=where)
        if not metrics:
            body["queries"][0]["orderby"] = []
        response = api.client.post("/api/v1/chart/data", json=body)
        assert response.status_code == 200, response.text[:2000]
        return response.json()["result"][0]["data"]

    japan = data(["iso_3166_2"], ["exports_usd"], default)
    assert japan and japan == state_exports(published, "5880")
    hs_column = filters["HS code"]["targets"][0]["column"]["name"]
    labels = {r[hs_column] for r in data([hs_column], [], [{"col": "hs_code", "op": "IN", "val": ["0701"]}])}
    (potatoes,) = labels
    assert potatoes.startswith("0701 "), potatoes
    chapters = {r["hs_chapter"] for r in data(["hs_chapter"], [], [{"col": "hs_code", "op": "IN", "val": ["0701"]}])}
    assert len(chapters) == 1 and chapters.pop().startswith("07 "), chapters
    by_potatoes = data(["iso_3166_2"], ["exports_usd"], [*default, {"col": hs_column, "op": "IN", "val": [potatoes]}])
    assert by_potatoes and by_potatoes == state_exports(published, "5880", "0701")


def open_dashboard(server: bi.Superset, tmp_path: Path, screenshot: Path) -> dict:
    """Log in and open the dashboard in headless Chromium (bi/browser_check.py in the BI venv)."""
    if not Path(os.environ.get("TRADE_BI_CHROMIUM", "/usr/bin/chromium")).exists():
        pytest.fail(
            "the Superset test needs Debian's chromium: apt-get install -y chromium (make test-deps installs it)"
        )
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    env = {**os.environ, "TRADE_BI_ADMIN_PASSWORD": server.admin_password}
    env.pop("VIRTUAL_ENV", None)
    proc = subprocess.Popen(
        [
            str(bi.venv_path() / "bin" / "python"),
            str(bi.BI_DIR / "browser_check.py"),
            server.url,
            f"/superset/dashboard/{bi.DASHBOARD_SLUG}/",
            str(screenshot),
            str(profile),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=600)  # login, 3 tries, tiles: see browser_check
    finally:  # Playwright and every Chromium process it started share this group: none outlives the test
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    stalled = [line.split(" ", 1)[1] for line in stdout.splitlines() if line.startswith("TRADE_BI_BROWSER_STALLED ")]
    # each attempt's pending and failed requests, page errors, text and screenshot, in full
    assert not stalled, "the dashboard's tiles never appeared:\n" + json.dumps(json.loads(stalled[-1]), indent=1)
    lines = [line for line in stdout.splitlines() if line.startswith("TRADE_BI_BROWSER ")]
    assert proc.returncode == 0 and lines, stdout[-2000:] + stderr[-4000:]
    page = json.loads(lines[-1].split(" ", 1)[1])
    print(f"browser phases (s since start): {page['phases']}; stalled attempts: {page['stalled_attempts']}")
    return page


def check_sql_lab_cannot_write(api: Api, published: Settings, read_only_error: str) -> dict:
    """SQL Lab refuses a write twice over: Superset (no DML), and DuckDB were DML allowed; reads work."""
    (database,) = api.client.get("/api/v1/database/").json()["result"]
    assert database["allow_dml"] is False
    refused = api.sql(database["id"], "create table marts.written_by_bi as select 1 as a")
    assert refused.status_code >= 400 and "DML_NOT_ALLOWED_ERROR" in refused.text, refused.text
    assert api.client.put(f"/api/v1/database/{database['id']}", json={"allow_dml": True}).status_code == 200
    try:
        refused = api.sql(database["id"], "create table marts.written_by_bi as select 1 as a")
        assert refused.status_code >= 400 and read_only_error in refused.text, refused.text
    finally:
        assert api.client.put(f"/api/v1/database/{database['id']}", json={"allow_dml": False}).status_code == 200
    allowed = api.sql(database["id"], "select count(*) as n from marts.trade_balance_monthly")
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["data"] == [{"n": query(published, "select count(*) from marts.trade_balance_monthly")[0][0]}]
    assert query(published, "select count(*) from duckdb_tables() where table_name = 'written_by_bi'") == [(0,)]
    return database


def publish_while_running(
    settings: Settings, server: bi.Superset, api: Api, first: dict[str, dict], run_id: str
) -> None:
    """A new month is published while Superset keeps running: same process, new numbers on the
    next request, since nothing pools connections or caches results."""
    started = time.monotonic()
    load_and_validate(settings, extract(settings, [NEW_MONTH]).landed, run_id)
    assert transform_and_publish(settings, run_id).published
    print(f"{NEW_MONTH} published in {time.monotonic() - started:.0f}s")
    os.killpg(server.pid, 0)  # still the same Superset process group
    second = check_charts_match_marts(api, server, settings, NEW_MONTH)
    balance = "Monthly balance: Japan, Korea, China, Mexico, Germany"
    assert second[balance]["rowcount"] == first[balance]["rowcount"] + len(FOCUS_PARTNERS)
    ytd = "Top-10 deficit partners, year to date"
    assert second[ytd]["data"] != first[ytd]["data"]


def check_dashboard_renders(server: bi.Superset, tmp_path: Path, screenshot: Path, published: Settings) -> None:
    """The dashboard in a browser: logged in, every tile drawn, no error tile, the new month shown,
    and the U.S. map drawn from Japan's exports by state (the partner filter's default)."""
    started = time.monotonic()
    page = open_dashboard(server, tmp_path, screenshot)
    print(f"browser check in {time.monotonic() - started:.0f}s")
    assert "/login" not in page["url"] and f"/dashboard/{bi.DASHBOARD_SLUG}/" in page["url"], page["url"]
    tiles = {t["title"]: t for t in page["tiles"]}
    assert set(tiles) == set(server.charts), tiles.keys()
    for title, tile in tiles.items():
        assert not tile["error"], f"{title}: {tile['error']}"
        assert tile["canvas"] or tile["rows"] or tile["paths"], f"{title} did not render: {tile['text'][:300]}"
    balance = "Monthly balance: Japan, Korea, China, Mexico, Germany"
    assert tiles[balance]["canvas"] and tiles["Exports to Japan: LNG, coal, potatoes"]["canvas"]
    assert tiles["Top-10 deficit partners, latest full year"]["rows"] == 10
    assert tiles[WATCHLIST]["rows"] == len(expected_watchlist(published))
    check_map_drawn(server, page, published)
    assert f"{NEW_MONTH}-01" in tiles["Data freshness"]["text"]
    assert "SYNTHETIC DATA from the Census API emulator" in tiles["Data freshness"]["text"]
    assert page["width"] == 1400 and page["height"] >= 1500
    assert page["colours"] > 200 and page["non_background_fraction"] > 0.05, page  # not a blank page
    print(f"\nscreenshot: {screenshot}  Superset start-up: {server.startup_s:.0f}s")


def check_map_drawn(server: bi.Superset, page: dict, published: Settings) -> None:
    """The country map as the browser drew it: one path per state, those with data filled, and
    the rows it was drawn from (its last /superset/explore_json/ answer, with the dashboard's
    default partner filter applied) equal to Japan's exports by state in the marts."""
    tile = next(t for t in page["tiles"] if t["title"] == STATE_MAP)
    japan = state_exports(published, "5880")
    assert tile["paths"] == USA_MAP_REGIONS, tile
    # a region with data gets a colour from the linear scale; one without keeps fill 'none'
    assert len(tile["fills"]) == len(japan), (len(tile["fills"]), len(japan))
    assert len(set(tile["fills"])) > 1, tile["fills"]  # coloured by value, not one flat colour
    drawn = [p for p in page["legacy_data"] if p["slice_id"] == server.charts[STATE_MAP] and p["data"] is not None]
    assert drawn, page["legacy_data"]
    last = drawn[-1]
    assert last["status"] == 200 and not last["error"] and "partner_name" in last["applied_filters"], last
    rows = sorted((r["country_id"], r["metric"]) for r in last["data"])
    assert rows == [(r["iso_3166_2"], r["exports_usd"]) for r in japan]
