"""A self-contained HTML report regenerated after each publish (inline SVG, no CDN).

It reads only the published serving snapshot, read-only, exactly as a BI tool would.
"""

from __future__ import annotations

import html
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from trade_warehouse.config import Settings

DEFAULT_TREND_PARTNERS = ("5880", "5800", "5700", "2010", "4280")  # Japan, Korea, China, Mexico, Germany
NAMED_EXPORTS = (("271111", 6, "LNG"), ("2701", 4, "Coal"), ("0701", 4, "Potatoes"))
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


def _billions(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 1e9:,.1f}"


def _bar_chart(chart_id: str, title: str, rows: list[tuple[str, float]], width: int = 560) -> str:
    """Horizontal bars in $ billions; deficits red, surpluses green, labels on the left."""
    if not rows:
        return f"<p>No data for {html.escape(title)}.</p>"
    bar_h, left = 19, 250
    biggest = max(abs(v) for _, v in rows) or 1
    scale = (width - left - 60) / biggest
    height = bar_h * len(rows) + 34
    parts = [f'<svg id="{chart_id}" class="chart" role="img" aria-label="{html.escape(title)}" '
             f'width="{width}" height="{height}">']
    for i, (label, value) in enumerate(rows):
        y = 4 + i * bar_h
        length = abs(value) * scale
        color = "#d62728" if value < 0 else "#2ca02c"
        short = label if len(label) <= 40 else label[:39] + "\u2026"
        parts.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end"><title>{html.escape(label)}</title>'
                     f'{html.escape(short)}</text>')
        parts.append(f'<rect x="{left}" y="{y + 2}" width="{length:.1f}" height="{bar_h - 5}" fill="{color}"/>')
        parts.append(f'<text x="{left + length + 4:.1f}" y="{y + 13}">{value / 1e9:,.1f}</text>')
    parts.append(f'<text x="{left}" y="{height - 6}" class="axis">balance, $ billions '
                 '(negative = U.S. deficit)</text></svg>')
    return "".join(parts)


def _line_chart(series: dict[str, list[tuple[str, float]]], marker: str | None = None) -> str:
    """Monthly balance lines for several partners, with an optional marked month."""
    points = [v for values in series.values() for _, v in values]
    months = sorted({m for values in series.values() for m, _ in values})
    if not points or len(months) < 2:
        return "<p>Not enough months for a trend.</p>"
    width, height, left, top, bottom = 1140, 340, 70, 16, 46
    low, high = min(points + [0]), max(points + [0])
    span = (high - low) or 1
    x = {m: left + i * (width - left - 20) / (len(months) - 1) for i, m in enumerate(months)}

    def y(v: float) -> float:
        return top + (high - v) / span * (height - top - bottom)

    parts = [f'<svg id="trend-chart" class="chart" role="img" aria-label="monthly balance" '
             f'width="{width}" height="{height}">']
    for step in range(6):
        tick = low + span * step / 5
        parts.append(f'<line x1="{left}" x2="{width - 20}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick / 1e9:,.0f}</text>')
    parts.append(f'<line x1="{left}" x2="{width - 20}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#888"/>')
    parts.append(f'<text x="12" y="{top + (height - top - bottom) / 2:.0f}" class="axis" '
                 f'transform="rotate(-90 12 {top + (height - top - bottom) / 2:.0f})" text-anchor="middle">'
                 'monthly balance, $ billions</text>')
    for month in months:
        if month.endswith("-01"):
            parts.append(f'<text x="{x[month]:.1f}" y="{height - 26}" text-anchor="middle">{month[:4]}</text>')
    parts.append(f'<text x="{(width + left) / 2:.0f}" y="{height - 6}" class="axis" text-anchor="middle">'
                 'month</text>')
    if marker and marker in x:
        parts.append(f'<line x1="{x[marker]:.1f}" x2="{x[marker]:.1f}" y1="{top}" y2="{height - bottom}" '
                     'stroke="#555" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{x[marker] + 4:.1f}" y="{height - bottom - 6}">KORUS in force (2012-03)</text>')
    for (name, values), color in zip(series.items(), COLORS, strict=False):
        path = " ".join(f"{x[m]:.1f},{y(v):.1f}" for m, v in values)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.6" points="{path}">'
                     f'<title>{html.escape(name)}</title></polyline>')
    legend = "".join(
        f'<span style="color:{c}">&#9632; {html.escape(n)}</span> ' for n, c in zip(series, COLORS, strict=False)
    )
    return "".join(parts) + f"</svg><div class='legend'>{legend}</div>"


def _table(headers: list[str], rows: list[list[str]], table_id: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'



def mirror_section(con: duckdb.DuckDBPyConnection) -> str:
    """"Two sides of the balance": U.S.-reported vs partner-reported balances (mirror statistics).

    Latest year with partner (UN Comtrade) data; both balances from the U.S. point of view.
    Empty when the snapshot has no mirror mart or no partner data yet.
    """
    try:
        year = con.execute(
            "select max(year) from marts.mirror_trade_annual where partner_months_covered > 0").fetchone()[0]
    except duckdb.Error:  # a snapshot published before the mirror mart existed
        return ""
    if year is None:
        return ""
    rows = con.execute(
        "select partner_name, us_reported_balance_usd, partner_reported_balance_usd, export_asymmetry_pct, "
        "import_asymmetry_pct, us_months_covered, partner_months_covered from marts.mirror_trade_annual "
        "where year = ? and partner_months_covered > 0 order by us_reported_balance_usd, partner_code", [year],
    ).fetchall()
    bars = []
    for name, us_balance, partner_balance, *_ in rows:
        bars.append((f"{name}: U.S.-reported", float(us_balance or 0)))
        bars.append((f"{name}: as {name} reports it", float(partner_balance or 0)))
    table = _table(
        ["partner", "U.S.-reported $bn", "partner-reported $bn", "export asymmetry %", "import asymmetry %",
         "months U.S. / partner"],
        [[n, _billions(u), _billions(p), "n/a" if e is None else f"{e:.1f}", "n/a" if i is None else f"{i:.1f}",
          f"{um} / {pm}"] for n, u, p, e, i, um, pm in rows],
        "mirror-table",
    )
    return (f"<h2 id='mirror'>Two sides of the balance, {year}: U.S.-reported vs partner-reported (UN Comtrade)"
            "</h2><p>Both from the U.S. point of view (exports to minus imports from the partner); the partner's "
            "CIF imports converted to FOB with a flat factor (TRADE_MIRROR_FOB_FACTOR, default 1.06). Gaps come "
            "from valuation, timing, re-exports through third countries (Hong Kong for China) and confidential "
            "codes; see the README.</p><div class='row'><div>"
            + _bar_chart("mirror-chart", f"two sides of the balance {year}", bars, width=640)
            + f"</div><div>{table}</div></div>")


def report_partners(env: dict[str, str] | None = None) -> tuple[tuple[str, ...], str]:
    """Trend partners and the commodity-focus partner, from TRADE_REPORT_PARTNERS / _FOCUS."""
    env = os.environ if env is None else env
    partners = tuple(p.strip() for p in env.get("TRADE_REPORT_PARTNERS", "").split(",") if p.strip())
    return partners or DEFAULT_TREND_PARTNERS, env.get("TRADE_REPORT_FOCUS", "").strip() or "5880"


def render(settings: Settings, partners: tuple[str, ...] | None = None, focus: str | None = None) -> Path:
    """Write ``serving/report/index.html`` from the serving snapshot; return its path."""
    default_partners, default_focus = report_partners()
    partners, focus = partners or default_partners, focus or default_focus
    con = duckdb.connect(str(settings.serving_path), read_only=True)
    try:
        published_at = con.execute("select max(published_at) from meta.publish").fetchone()[0]
        checks = con.execute(
            "select count(*), count(*) filter (where success), "
            "string_agg(distinct flow || ' ' || strftime(month, '%Y-%m'), ', ') filter (where not success) "
            "from meta.validation_status"
        ).fetchone()
        latest_month, months = con.execute("select max(month), count(*) from marts.dim_month").fetchone()
        full_year = con.execute(
            "select max(year) from (select year from marts.dim_month group by year having count(*) = 12)"
        ).fetchone()[0]
        latest_year = latest_month.year
        top = con.execute(
            "select partner_name, exports_usd, imports_usd, balance_usd from marts.trade_balance_annual "
            "where year = ? and deficit_rank <= 10 order by deficit_rank, partner_code",
            [full_year],
        ).fetchall()
        ytd = con.execute(
            "select partner_name, balance_ytd_usd from marts.trade_balance_monthly "
            "where month = ? and balance_ytd_usd < 0 order by balance_ytd_usd limit 10",
            [latest_month],
        ).fetchall()
        trend: dict[str, list[tuple[str, float]]] = {}
        for code in partners:
            rows = con.execute(
                "select strftime(month, '%Y-%m'), balance_usd, partner_name from marts.trade_balance_monthly "
                "where partner_code = ? order by month",
                [code],
            ).fetchall()
            if rows:
                trend[rows[-1][2]] = [(m, float(b)) for m, b, _ in rows]
        focus_name = con.execute("select partner_name from marts.dim_partner where partner_code = ?", [focus]).fetchone()
        drivers = con.execute(
            "select hs_code || ' ' || coalesce(hs_description, ''), balance_usd from marts.commodity_balance_annual "
            "where partner_code = ? and year = ? order by rank_in_partner limit 10",
            [focus, full_year],
        ).fetchall()
        named = []
        for code, level, label in NAMED_EXPORTS:
            value = con.execute(
                "select sum(exports_usd) from marts.commodity_trade_monthly "
                "where partner_code = ? and hs_level = ? and hs_code = ? and year(month) = ?",
                [focus, level, code, full_year],
            ).fetchone()[0]
            named.append([f"{label} ({code})", _billions(value)])
        synthetic = con.execute("select bool_or(data_source = 'census-emulator') from marts.dim_month").fetchone()[0]
        mirror = mirror_section(con)
    finally:
        con.close()
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    failed_note = f" (failed: {html.escape(checks[2])}; previous versions kept)" if checks[2] else ""
    note = (
        "<p class='warn'>Synthetic data from the Census API emulator: not official statistics.</p>" if synthetic else ""
    )
    focus_label = html.escape(focus_name[0] if focus_name else focus)
    document = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>U.S. trade in goods: report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.2rem 2rem; color: #222; max-width: 1180px; font-size: 14px; }}
h1 {{ margin: 0 0 0.3rem; font-size: 26px; }} h2 {{ font-size: 17px; margin: 1.1rem 0 0.4rem; }}
table {{ border-collapse: collapse; margin: 0.2rem 0 0.6rem; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 2px 10px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
.row {{ display: flex; gap: 36px; align-items: flex-start; }}
.chart text {{ font-size: 11px; }} .axis {{ fill: #555; }} .warn {{ color: #b00; font-weight: bold; margin: 0.2rem 0; }}
.legend {{ margin-top: 2px; }} p {{ margin: 0.3rem 0; }}
</style></head><body>
<h1>U.S. international trade in goods</h1>
{note}
<p id="freshness">Data through <b>{latest_month:%Y-%m}</b> ({months} months loaded); published
{published_at:%Y-%m-%d %H:%M} UTC; report generated {generated}.
Last validation of each loaded month: <b>{checks[1]} of {checks[0]}</b> suites passed{failed_note}.</p>
<p>Balances are total exports minus general imports, Census basis, not seasonally adjusted, in $ billions.
Details: <a href="../../docs/gx/index.html">GX Data Docs</a> (validations),
<a href="../../docs/dbt/index.html">dbt docs</a> (models and columns).</p>
<h2>Ten largest deficit partners, {full_year}</h2>
<div class="row"><div>
{_table(["partner", "exports $bn", "imports $bn", "balance $bn"],
        [[n, _billions(e), _billions(i), _billions(b)] for n, e, i, b in top], "top-deficits-table")}
</div><div>{_bar_chart("top-deficits-chart", f"largest deficits {full_year}",
                       [(n, float(b)) for n, _, _, b in top])}</div></div>
<div class="row"><div>
<h2>Largest deficits {latest_year} year to date (through {latest_month:%Y-%m})</h2>
{_bar_chart("ytd-deficits-chart", "largest deficits year to date", [(n, float(b)) for n, b in ytd])}
</div><div>
<h2>Selected exports to {focus_label}, {full_year}</h2>
{_table(["commodity", "exports $bn"], named, "named-exports-table")}
</div></div>
<h2>Monthly balance with selected partners</h2>
{_line_chart(trend, marker="2012-03")}
<h2>Commodities (HS4) driving the balance with {focus_label}, {full_year}</h2>
{_bar_chart("drivers-chart", "commodity drivers", drivers, width=900)}
{mirror}
</body></html>
"""
    target = settings.report_path
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(document)
    os.replace(temp, target)
    return target

