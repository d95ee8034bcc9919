"""The report's state section: which states ship the watchlist goods to the focus partner
(Japan unless TRADE_REPORT_FOCUS says otherwise), and where the cars from it land.

Read from the state marts (``dim_state``, ``state_trade_monthly``) of the serving snapshot;
a snapshot published before them, or with them empty, has no such section (``None``), and
the report renders as before.
"""

from __future__ import annotations

import duckdb

# The watchlist goods of the state section (HS4 headings, so the state marts' HS4 rows): which
# states ship them to the focus partner, and where the cars from it land (imports by state of
# destination). Each: code, label, the flow read (exports_usd or imports_usd).
STATE_WATCHLIST = (
    ("0701", "Potatoes", "exports"),
    ("2711", "LNG and other petroleum gases", "exports"),
    ("2701", "Coal", "exports"),
    ("8703", "Cars", "imports"),
)
STATE_TOP = 5  # states shown per good


def state_year(con: duckdb.DuckDBPyConnection) -> int | None:
    """The latest full year of the state marts (the latest year when none is complete).

    None when the snapshot has no state marts (published before issue 23) or they are empty
    (TRADE_STATE_TRADE=off): the report then leaves the state section out.
    """
    try:
        full, latest = con.execute(
            "with months as (select distinct month from marts.state_trade_monthly) "
            "select max(y) filter (where n = 12), max(y) "
            "from (select year(month) as y, count(*) as n from months group by 1)"
        ).fetchone()
    except duckdb.Error:
        return None
    return full if full is not None else latest


def state_watchlist_data(con: duckdb.DuckDBPyConnection, focus: str) -> dict | None:
    """ "Which states ship the watchlist goods to the focus partner", and where its cars land.

    Per good of STATE_WATCHLIST, in the state marts' latest full year: the total over all
    states and the STATE_TOP states with their value and share of it, read at HS4 (the
    watchlist codes are headings; a state level of HS2 has no such rows, and the section
    says so). None when the snapshot has no state marts or they hold no rows.
    """
    year = state_year(con)
    if year is None:
        return None
    values = con.execute(
        "select s.hs_code, coalesce(d.state_name, s.state_code), "
        "sum(s.exports_usd), sum(s.imports_usd) "
        "from marts.state_trade_monthly s left join marts.dim_state d using (state_code) "
        "where s.partner_code = ? and s.hs_level = 4 and list_contains(?, s.hs_code) and year(s.month) = ? "
        "group by s.hs_code, s.state_code, d.state_name",
        [focus, [code for code, _, _ in STATE_WATCHLIST], year],
    ).fetchall()
    has_hs4 = con.execute("select exists (select 1 from marts.state_trade_monthly where hs_level = 4)").fetchone()[0]
    rows = []
    for code, label, flow in STATE_WATCHLIST:
        states = sorted(
            ((name, exports if flow == "exports" else imports) for hs, name, exports, imports in values if hs == code),
            key=lambda state: (-state[1], state[0]),
        )
        states = [(name, value) for name, value in states if value > 0]
        total = sum(value for _, value in states)
        rows.append(
            {
                "good": f"{label} ({code})",
                "flow": "exports (state of origin)" if flow == "exports" else "imports (state of destination)",
                "total": f"{total / 1e6:,.1f}" if states else "n/a",
                "states": [[name, f"{value / 1e6:,.1f}", f"{value / total:.0%}"] for name, value in states[:STATE_TOP]],
            }
        )
    return {"year": year, "rows": rows, "has_hs4": bool(has_hs4), "top": STATE_TOP}
