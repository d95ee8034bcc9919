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


def _bar_chart(title: str, rows: list[tuple[str, float]], unit: str = "$ billions") -> str:
    """Horizontal bars; negative values (deficits) extend left of the axis."""
    if not rows:
        return f"<p>No data for {html.escape(title)}.</p>"
    width, bar_h, left = 720, 22, 220
    biggest = max(abs(v) for _, v in rows) or 1
    scale = (width - left - 80) / biggest
    height = bar_h * len(rows) + 40
    parts = [f'<svg class="chart" role="img" aria-label="{html.escape(title)}" width="{width}" height="{height}">']
    for i, (label, value) in enumerate(rows):
        y = 20 + i * bar_h
        length = abs(value) * scale
        color = "#d62728" if value < 0 else "#2ca02c"
        parts.append(f'<text x="{left - 6}" y="{y + 15}" text-anchor="end">{html.escape(label)}</text>')
        parts.append(f'<rect x="{left}" y="{y + 3}" width="{length:.1f}" height="{bar_h - 6}" fill="{color}"/>')
        parts.append(f'<text x="{left + length + 4:.1f}" y="{y + 15}">{value / 1e9:,.1f}</text>')
    parts.append(f'<text x="{left}" y="{height - 4}" class="axis">{html.escape(unit)}</text></svg>')
    return "".join(parts)


def _line_chart(series: dict[str, list[tuple[str, float]]], marker: str | None = None) -> str:
    """Monthly balance lines for several partners, with an optional marked month."""
    points = [v for values in series.values() for _, v in values]
    months = sorted({m for values in series.values() for m, _ in values})
    if not points or len(months) < 2:
        return "<p>Not enough months for a trend.</p>"
    width, height, left, top, bottom = 760, 320, 60, 20, 40
    low, high = min(points + [0]), max(points + [0])
    span = (high - low) or 1
    x = {m: left + i * (width - left - 20) / (len(months) - 1) for i, m in enumerate(months)}

    def y(v: float) -> float:
        return top + (high - v) / span * (height - top - bottom)

    parts = [f'<svg class="chart" role="img" aria-label="monthly balance" width="{width}" height="{height}">',
             f'<line x1="{left}" x2="{width - 20}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#999"/>',
             f'<text x="4" y="{top + 10}" class="axis">$ bn</text>']
    for tick in (high, 0, low):
        parts.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick / 1e9:,.0f}</text>')
    for month in months[:: max(1, len(months) // 7)]:
        parts.append(f'<text x="{x[month]:.1f}" y="{height - 20}" text-anchor="middle">{month[:7]}</text>')
    if marker and marker in x:
        parts.append(f'<line x1="{x[marker]:.1f}" x2="{x[marker]:.1f}" y1="{top}" y2="{height - bottom}" '
                     'stroke="#555" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{x[marker] + 4:.1f}" y="{top + 12}">KORUS in force (2012-03)</text>')
    for (_name, values), color in zip(series.items(), COLORS, strict=False):
        path = " ".join(f"{x[m]:.1f},{y(v):.1f}" for m, v in values)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{path}"/>')
    legend = "".join(f'<span style="color:{c}">&#9632; {html.escape(n)}</span> ' for n, c in zip(series, COLORS, strict=False))
    return "".join(parts) + f"</svg><div class='legend'>{legend}</div>"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(settings: Settings, partners: tuple[str, ...] = DEFAULT_TREND_PARTNERS, focus: str = "5880") -> Path:
    """Write ``serving/report/index.html`` from the serving snapshot; return its path."""
    con = duckdb.connect(str(settings.serving_path), read_only=True)
    try:
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
    finally:
        con.close()
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    note = (
        "<p class='warn'>Synthetic data from the Census API emulator: not official statistics.</p>" if synthetic else ""
    )
    document = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>U.S. trade in goods: report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 900px; }}
table {{ border-collapse: collapse; margin: 0.5rem 0 1.5rem; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
.chart text {{ font-size: 11px; }} .axis {{ fill: #555; }} .warn {{ color: #b00; font-weight: bold; }}
</style></head><body>
<h1>U.S. international trade in goods</h1>
{note}
<p>Data through <b>{latest_month:%Y-%m}</b> ({months} months loaded); report generated {generated}.
Balances are total exports minus general imports, Census basis, not seasonally adjusted, in $ billions.</p>
<h2>Ten largest deficit partners, {full_year}</h2>
{_table(["partner", "exports $bn", "imports $bn", "balance $bn"],
        [[n, _billions(e), _billions(i), _billions(b)] for n, e, i, b in top])}
{_bar_chart(f"largest deficits {full_year}", [(n, float(b)) for n, _, _, b in top])}
<h2>Largest deficits {latest_year} year to date (through {latest_month:%Y-%m})</h2>
{_bar_chart("largest deficits year to date", [(n, float(b)) for n, b in ytd])}
<h2>Monthly balance with selected partners</h2>
{_line_chart(trend, marker="2012-03")}
<h2>Commodities (HS4) driving the balance with {html.escape(focus_name[0] if focus_name else focus)}, {full_year}</h2>
{_bar_chart("commodity drivers", drivers)}
<h2>Selected exports to {html.escape(focus_name[0] if focus_name else focus)}, {full_year}</h2>
{_table(["commodity", "exports $bn"], named)}
<p>More: GX Data Docs under <code>docs/gx/</code>, dbt docs under <code>docs/dbt/</code> of the data directory.</p>
</body></html>
"""
    target = settings.report_path
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(document)
    os.replace(temp, target)
    return target

