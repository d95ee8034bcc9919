"""The report's state section ("which states ship the watchlist goods to Japan") for tests: what
the page shows, parsed from its HTML, and what it must show, computed from the state marts.

The expectation is written here from the marts' columns, not through the report's code, so
a wrong query, level, year or rounding in ``trade_warehouse.report.html`` shows as a difference.
"""

from __future__ import annotations

import html
import re

import duckdb

# good as the page labels it, HS4 code, the value column read (exports by state of origin,
# imports by state of destination)
GOODS = (
    ("Potatoes (0701)", "0701", "exports_usd"),
    ("LNG and other petroleum gases (2711)", "2711", "exports_usd"),
    ("Coal (2701)", "2701", "exports_usd"),
    ("Cars (8703)", "8703", "imports_usd"),
)
TOP = 5


def expected_states(con: duckdb.DuckDBPyConnection, partner: str, year: int) -> list[dict]:
    """Per good: the total over all states ($ millions, 1 decimal) and the top states with $m and share."""
    goods = []
    for good, code, column in GOODS:
        states = con.execute(
            f"""
            select coalesce(d.state_name, s.state_code) as name, sum(s.{column}) as v
            from marts.state_trade_monthly s left join marts.dim_state d on d.state_code = s.state_code
            where s.partner_code = ? and s.hs_level = 4 and s.hs_code = ?
              and s.month >= make_date(?, 1, 1) and s.month < make_date(? + 1, 1, 1)
            group by s.state_code, d.state_name having sum(s.{column}) > 0 order by v desc, name
            """,
            [partner, code, year, year],
        ).fetchall()
        total = sum(v for _, v in states)
        goods.append(
            {
                "good": good,
                "total": f"{total / 1e6:,.1f}" if states else "n/a",
                "states": [(name, f"{v / 1e6:,.1f}", f"{v / total:.0%}") for name, v in states[:TOP]],
            }
        )
    return goods


def shown_states(page: str) -> list[dict]:
    """The state table of a rendered report (its HTML, or Chromium's DOM of it), as ``expected_states``."""
    table = re.search(r'<table id="states-table">(.*?)</table>', page, re.S)
    assert table, "the report has no states-table"
    goods: list[dict] = []
    for attributes, row in re.findall(r"<tr([^>]*)>(.*?)</tr>", table.group(1), re.S)[1:]:
        cells = [html.unescape(c.strip()) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        if 'class="good"' in attributes:
            good, _flow, total, *state = cells
            goods.append({"good": good, "total": total, "states": [tuple(state)] if len(state) == 3 else []})
        else:
            goods[-1]["states"].append(tuple(cells))
    return goods
