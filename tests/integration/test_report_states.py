"""The report's state section ("which states ship the watchlist goods to Japan, and where its cars
land") on small state marts built here: its numbers against the marts, the year it picks, and
that a snapshot without the state marts (or with empty ones) renders without the section.

The same section on marts the pipeline built from the emulator: test_headline_analyses.py.
"""

from __future__ import annotations

import re
from datetime import date, datetime

import duckdb
import pytest
import report_states

from trade_warehouse.report.html import bar_chart, line_chart, templates
from trade_warehouse.report.states import state_watchlist_data

pytestmark = pytest.mark.integration

STATES = [  # state_code, state_name, iso_3166_2, is_state
    ("ID", "Idaho", "US-ID", True),
    ("WA", "Washington", "US-WA", True),
    ("LA", "Louisiana", "US-LA", True),
    ("TX", "Texas", "US-TX", True),
    ("VA", "Virginia", "US-VA", True),
    ("WV", "West Virginia", "US-WV", True),
    ("CA", "California", "US-CA", True),
    ("NJ", "New Jersey & <Ports>", "US-NJ", True),  # a name the page must escape
    ("MD", "Maryland", "US-MD", True),
    ("OR", "Oregon", "US-OR", True),
    ("NY", "New York", "US-NY", True),
    ("PR", "Puerto Rico", "US-PR", False),
    ("XX", "Unidentified", None, False),
]
# (state, HS4, exports to Japan, imports from Japan) per month of 2016; a sixth potato state
# (the top five are shown), a tie on LNG (broken by name), cars landing in several states
MONTHLY = [
    ("ID", "0701", 5_000_000, 0),
    ("WA", "0701", 3_000_000, 10_000),
    ("OR", "0701", 1_000_000, 0),
    ("NY", "0701", 500_000, 0),
    ("CA", "0701", 400_000, 0),
    ("XX", "0701", 300_000, 0),
    ("LA", "2711", 20_000_000, 0),
    ("TX", "2711", 20_000_000, 0),
    ("VA", "2701", 30_000_000, 0),
    ("WV", "2701", 25_000_000, 0),
    ("CA", "8703", 50_000, 900_000_000),
    ("NJ", "8703", 0, 700_000_000),
    ("MD", "8703", 0, 500_000_000),
    ("PR", "8703", 0, 20_000_000),
    ("TX", "8702", 9_000_000, 9_000_000),  # not a watchlist good
]


def build_marts(con: duckdb.DuckDBPyConnection, months: list[date]) -> None:
    """dim_state and state_trade_monthly as the contract has them (HS4 rows and their HS2 sums)."""
    con.execute("create schema if not exists marts")
    con.execute(
        "create table marts.dim_state (state_code varchar, fips_code varchar, state_name varchar, "
        "region varchar, iso_3166_2 varchar, is_state boolean)"
    )
    con.executemany(
        "insert into marts.dim_state values (?, null, ?, 'R', ?, ?)", [[c, n, i, s] for c, n, i, s in STATES]
    )
    con.execute(
        "create table marts.state_trade_monthly (month date, state_code varchar, partner_code varchar, "
        "hs_level integer, hs_code varchar, hs_description varchar, exports_usd bigint, imports_usd bigint)"
    )
    rows = []
    for month in months:
        for state, code, exports, imports in MONTHLY:
            rows.append([month, state, "5880", 4, code, f"HEADING {code}", exports, imports])
            rows.append([month, state, "5800", 4, code, f"HEADING {code}", 7 * exports, 7 * imports])  # Korea
    if rows:
        con.executemany("insert into marts.state_trade_monthly values (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute(
        "insert into marts.state_trade_monthly select month, state_code, partner_code, 2, left(hs_code, 2), "
        "'CHAPTER', sum(exports_usd), sum(imports_usd) from marts.state_trade_monthly group by all"
    )


@pytest.fixture
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


def render_section(states: dict | None) -> str:
    """The whole report template with minimal national parts and the given state section."""
    empty = bar_chart("c", "c", [])
    r = {
        "synthetic": True,
        "latest_month": date(2017, 1, 1),
        "months": 13,
        "published_at": datetime(2017, 2, 1, 12, 0),
        "generated": "now",
        "suites": 1,
        "suites_passed": 1,
        "failed_months": None,
        "full_year": 2016,
        "focus_name": "JAPAN",
        "top_rows": [],
        "top_chart": empty,
        "ytd_chart": empty,
        "named_rows": [],
        "trend_chart": line_chart({}),
        "drivers_chart": empty,
        "revisions": None,
        "mirror": None,
        "states": states,
    }
    return templates().get_template("report.html.j2").render(r=r)


def test_state_section_numbers_equal_the_marts(con):
    build_marts(con, [date(2016, m, 1) for m in range(1, 13)] + [date(2017, 1, 1)])
    states = state_watchlist_data(con, "5880")
    assert states["year"] == 2016 and states["has_hs4"]  # the full year, not the partial 2017
    page = render_section(states)
    shown = report_states.shown_states(page)
    assert shown == report_states.expected_states(con, "5880", 2016)
    potatoes, lng, coal, cars = shown
    assert [s[0] for s in potatoes["states"]] == ["Idaho", "Washington", "Oregon", "New York", "California"]
    assert potatoes["total"] == f"{12 * 10.2:,.1f}"  # all states: the unidentified (XX) included
    assert [s[0] for s in lng["states"]] == ["Louisiana", "Texas"]  # a tie, by name
    assert [s[0] for s in coal["states"]] == ["Virginia", "West Virginia"]
    assert cars["states"][:3] == [
        ("California", "10,800.0", "42%"),
        ("New Jersey & <Ports>", "8,400.0", "33%"),
        ("Maryland", "6,000.0", "24%"),
    ]
    assert "New Jersey &amp; &lt;Ports&gt;" in page  # escaped
    assert re.search(r'<h2 id="states">Which states ship the watchlist goods to JAPAN.*, 2016</h2>', page)


def test_a_partial_year_alone_is_shown_as_the_latest(con):
    build_marts(con, [date(2017, 1, 1), date(2017, 2, 1)])
    states = state_watchlist_data(con, "5880")
    assert states["year"] == 2017
    assert report_states.shown_states(render_section(states)) == report_states.expected_states(con, "5880", 2017)


def test_no_section_without_state_marts_or_rows(con):
    assert state_watchlist_data(con, "5880") is None  # a snapshot published before the state marts
    page = render_section(None)
    assert 'id="states"' not in page and "states-table" not in page
    assert "Ten largest deficit partners" in page  # the rest of the report is there
    build_marts(con, [])
    assert state_watchlist_data(con, "5880") is None  # state marts without rows (TRADE_STATE_TRADE=off)


def test_state_level_hs2_says_the_headings_are_missing(con):
    build_marts(con, [date(2016, m, 1) for m in range(1, 13)])
    con.execute("delete from marts.state_trade_monthly where hs_level = 4")
    states = state_watchlist_data(con, "5880")
    assert states and not states["has_hs4"]
    page = render_section(states)
    assert 'id="states-no-hs4"' in page and "states-table" not in page
