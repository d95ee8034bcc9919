"""A self-contained HTML report regenerated after each publish (inline SVG, no CDN).

It reads only the published serving snapshot, read-only, exactly as a BI tool would.
The queries live here and compute the charts' geometry; the markup lives in Jinja2
templates (``templates/``) with autoescape on, so a partner or commodity name can never
break the page.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import duckdb
import jinja2

from trade_warehouse.core.config import Settings
from trade_warehouse.publish.serving import open_served
from trade_warehouse.report.states import state_watchlist_data

DEFAULT_TREND_PARTNERS = ("5880", "5800", "5700", "2010", "4280")  # Japan, Korea, China, Mexico, Germany
NAMED_EXPORTS = (("271111", 6, "LNG"), ("2701", 4, "Coal"), ("0701", 4, "Potatoes"))
# Months worth marking on the trend chart, with their label (KORUS: the U.S.-Korea agreement).
TREND_MARKERS = {"2012-03": "KORUS in force (2012-03)"}
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")
TEMPLATES = Path(__file__).with_name("templates")


@lru_cache(maxsize=1)
def templates() -> jinja2.Environment:
    """The report's templates, HTML-escaping every value unless a template says otherwise."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=False
    )


def _billions(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 1e9:,.1f}"


# Upper estimates of a character's advance in the charts' 11px sans-serif (DejaVu Sans, the
# usual system-ui of a Linux Chromium, is among the widest), in pixels. A label is shortened
# to the room it is given, so no browser clips it: an over-estimate leaves a gap, an
# under-estimate would push the label's start (its code) off the chart.
CHAR_PX = {**dict.fromkeys("MWmw%@\u2026", 11.0), **dict.fromkeys(" .,:;'()-/|!ijlIft[]", 4.5)}
UPPER_PX, LOWER_PX = 8.5, 7.0  # other capitals and digits; other lower-case letters
LABEL_GAP = 6  # pixels between a bar's label and the bar


def text_width(text: str) -> float:
    """An upper estimate of ``text``'s width in the charts' 11px font, in pixels."""
    return sum(CHAR_PX.get(c, LOWER_PX if c.islower() else UPPER_PX) for c in text)


def fit_label(label: str, room: float) -> str:
    """``label`` shortened to ``room`` pixels with an ellipsis, keeping its leading code whole.

    A commodity label is ``8703 MOTOR CARS ...``: the code identifies the bar, so the
    description is shortened, never the code (nor a label without a description).
    """
    if text_width(label) <= room:
        return label
    code, _, _ = label.partition(" ")
    keep = len(code) + 1 if code.isdigit() else 1
    for end in range(len(label) - 1, keep - 1, -1):
        short = label[:end].rstrip() + "\u2026"
        if text_width(short) <= room:
            return short
    return label[:keep].rstrip() + "\u2026"


@dataclass
class Bar:
    label: str
    short: str
    value: float
    y: int
    length: float
    color: str


@dataclass
class BarChart:
    """Horizontal bars in $ billions; deficits red, surpluses green, labels on the left."""

    chart_id: str
    title: str
    width: int
    bars: list[Bar] = field(default_factory=list)
    bar_height: int = 19
    left: int = 250

    @property
    def height(self) -> int:
        return self.bar_height * len(self.bars) + 34

    @property
    def label_room(self) -> float:
        """Pixels a label may take: the left margin, less the gap before the bar."""
        return self.left - LABEL_GAP


def bar_chart(chart_id: str, title: str, rows: list[tuple[str, float]], width: int = 560, left: int = 250) -> BarChart:
    """Bars for ``rows`` (label, dollars); each label shortened to the ``left`` margin, code kept."""
    chart = BarChart(chart_id, title, width, left=left)
    biggest = max((abs(v) for _, v in rows), default=0) or 1
    scale = (width - chart.left - 60) / biggest
    for i, (label, value) in enumerate(rows):
        chart.bars.append(
            Bar(
                label=label,
                short=fit_label(label, chart.label_room),
                value=value,
                y=4 + i * chart.bar_height,
                length=abs(value) * scale,
                color="#d62728" if value < 0 else "#2ca02c",
            )
        )
    return chart


def nice_ticks(low: float, high: float, intervals: int = 6) -> list[float]:
    """Round axis ticks covering ``low``..``high``: a step of 1, 2 or 5 x 10^k, about ``intervals`` of them.

    The first tick is at or below ``low`` and the last at or above ``high`` (0..-27.3 gives
    -30, -25, ..., 0), so the axis reads in round values instead of fifths of the data's range.
    """
    if high < low:
        low, high = high, low
    raw = (high - low) / intervals or abs(high) or 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    return [k * step for k in range(first, max(last, first + 1) + 1)]


def tick_label(value: float, step: float, unit: float = 1e9) -> str:
    """``value`` in ``unit`` with as many decimals as the tick step needs (5 -> "-5", 0.5 -> "-0.5")."""
    decimals = max(0, -math.floor(math.log10(step / unit) + 1e-9))
    return "0" if value == 0 else f"{value / unit:,.{decimals}f}"


@dataclass
class LineChart:
    """Monthly lines for several partners on one value axis, with an optional marked month."""

    chart_id: str
    title: str
    y_label: str
    width: int = 1140
    height: int = 340
    left: int = 70
    top: int = 16
    bottom: int = 46
    lines: list[dict] = field(default_factory=list)
    ticks: list[dict] = field(default_factory=list)
    years: list[dict] = field(default_factory=list)
    marker: dict | None = None
    zero_y: float = 0.0

    @property
    def middle_y(self) -> float:
        return self.top + (self.height - self.top - self.bottom) / 2


def line_chart(
    series: dict[str, list[tuple[str, float]]],
    markers: dict[str, str] | None = None,
    chart_id: str = "trend-chart",
    y_label: str = "monthly balance, $ billions",
) -> LineChart:
    chart = LineChart(chart_id, "monthly balance", y_label)
    points = [v for values in series.values() for _, v in values]
    months = sorted({m for values in series.values() for m, _ in values})
    if not points or len(months) < 2:
        return chart
    ticks = nice_ticks(min(points + [0]), max(points + [0]))
    low, high = ticks[0], ticks[-1]
    span = (high - low) or 1
    x = {m: chart.left + i * (chart.width - chart.left - 20) / (len(months) - 1) for i, m in enumerate(months)}

    def y(v: float) -> float:
        return chart.top + (high - v) / span * (chart.height - chart.top - chart.bottom)

    step = ticks[1] - ticks[0]
    chart.ticks = [{"y": y(value), "value": value, "label": tick_label(value, step)} for value in ticks]
    chart.zero_y = y(0)
    chart.years = [{"x": x[m], "label": m[:4]} for m in months if m.endswith("-01")]
    marked = [(m, label) for m, label in (markers or {}).items() if m in x]
    if marked:
        chart.marker = {"x": x[marked[0][0]], "label": marked[0][1]}
    chart.lines = [
        {"name": name, "color": color, "points": " ".join(f"{x[m]:.1f},{y(v):.1f}" for m, v in values)}
        for (name, values), color in zip(series.items(), COLORS, strict=False)
    ]
    return chart


def mirror_data(con: duckdb.DuckDBPyConnection) -> dict | None:
    """ "Two sides of the balance": U.S.-reported vs partner-reported balances (mirror statistics).

    The latest year with partner (UN Comtrade) data, both balances from the U.S. point of
    view. None when the snapshot has no mirror mart (published before it existed) or no
    partner data yet: the report then leaves the section out.
    """
    try:
        year = con.execute(
            "select max(year) from marts.mirror_trade_annual where partner_months_covered > 0"
        ).fetchone()[0]
    except duckdb.Error:
        return None
    if year is None:
        return None
    rows = con.execute(
        "select partner_name, us_reported_balance_usd, partner_reported_balance_usd, export_asymmetry_pct, "
        "import_asymmetry_pct, us_months_covered, partner_months_covered from marts.mirror_trade_annual "
        "where year = ? and partner_months_covered > 0 order by us_reported_balance_usd, partner_code",
        [year],
    ).fetchall()
    bars = []
    for name, us_balance, partner_balance, *_ in rows:
        bars.append((f"{name}: U.S.-reported", float(us_balance or 0)))
        bars.append((f"{name}: as {name} reports it", float(partner_balance or 0)))

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1f}"

    return {
        "year": year,
        "chart": bar_chart("mirror-chart", f"two sides of the balance {year}", bars, width=640),
        "rows": [[n, _billions(u), _billions(p), pct(e), pct(i), f"{um} / {pm}"] for n, u, p, e, i, um, pm in rows],
    }


def report_partners(env: dict[str, str] | None = None) -> tuple[tuple[str, ...], str]:
    """Trend partners and the commodity-focus partner, from TRADE_REPORT_PARTNERS / _FOCUS."""
    env = os.environ if env is None else env
    partners = tuple(p.strip() for p in env.get("TRADE_REPORT_PARTNERS", "").split(",") if p.strip())
    return partners or DEFAULT_TREND_PARTNERS, env.get("TRADE_REPORT_FOCUS", "").strip() or "5880"


def revision_data(con: duckdb.DuckDBPyConnection, limit: int = 10) -> dict | None:
    """ "What the last revision changed": largest absolute balance revisions, by partner and by HS4.

    The last revision is every revising load of the latest day with one (an annual revision
    reloads many months in one run). A balance revision is the exports change minus the
    imports change. None until a first revision.
    """
    last = con.execute("select max(revised_at)::date from marts.trade_revisions_monthly").fetchone()[0]
    if last is None:
        return None
    balance = "sum(case when flow = 'exports' then change_usd else -change_usd end)"
    partners = con.execute(
        f"select any_value(partner_name), {balance} as change, count(distinct month), "
        "bool_or(in_revision_window) from marts.trade_revisions_monthly where revised_at::date = ? "
        "group by partner_code having change <> 0 order by abs(change) desc, 1 limit ?",
        [last, limit],
    ).fetchall()
    products = con.execute(
        f"select hs_code || ' ' || coalesce(any_value(hs_description), ''), {balance} as change, count(distinct month) "
        "from marts.commodity_revisions_hs4_monthly where revised_at::date = ? "
        "group by hs_code having change <> 0 order by abs(change) desc, 1 limit ?",
        [last, limit],
    ).fetchall()
    first, final, count = con.execute(
        "select strftime(min(month), '%Y-%m'), strftime(max(month), '%Y-%m'), count(distinct month) "
        "from marts.trade_revisions_monthly where revised_at::date = ?",
        [last],
    ).fetchone()

    def millions(value: float) -> str:
        return f"{value / 1e6:+,.1f}"

    return {
        "day": last,
        "first": first,
        "final": final,
        "count": count,
        "partner_rows": [[n, millions(c), m, "yes" if w else "ad hoc"] for n, c, m, w in partners],
        "product_rows": [[n, millions(c), m] for n, c, m in products],
    }


def trend_series(con: duckdb.DuckDBPyConnection, partners: tuple[str, ...]) -> dict[str, list[tuple[str, float]]]:
    """Monthly balance of each partner with data, by its latest name: the trend chart's lines."""
    trend: dict[str, list[tuple[str, float]]] = {}
    for code in partners:
        rows = con.execute(
            "select strftime(month, '%Y-%m'), balance_usd, partner_name from marts.trade_balance_monthly "
            "where partner_code = ? order by month",
            [code],
        ).fetchall()
        if rows:
            trend[rows[-1][2]] = [(m, float(b)) for m, b, _ in rows]
    return trend


def named_exports(con: duckdb.DuckDBPyConnection, focus: str, year: int | None) -> list[list[str]]:
    """The NAMED_EXPORTS to the focus partner in ``year``, $ billions ("n/a" when not loaded)."""
    named = []
    for code, level, label in NAMED_EXPORTS:
        value = con.execute(
            "select sum(exports_usd) from marts.commodity_trade_monthly "
            "where partner_code = ? and hs_level = ? and hs_code = ? and year(month) = ?",
            [focus, level, code, year],
        ).fetchone()[0]
        named.append([f"{label} ({code})", _billions(value)])
    return named


def report_data(con: duckdb.DuckDBPyConnection, partners: tuple[str, ...], focus: str) -> dict:
    """Everything the report shows, read from the serving snapshot (the template draws it)."""
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
    focus_name = con.execute("select partner_name from marts.dim_partner where partner_code = ?", [focus]).fetchone()
    drivers = con.execute(
        "select hs_code || ' ' || coalesce(hs_description, ''), balance_usd from marts.commodity_balance_annual "
        "where partner_code = ? and year = ? order by rank_in_partner limit 10",
        [focus, full_year],
    ).fetchall()
    synthetic = con.execute("select bool_or(data_source = 'census-emulator') from marts.dim_month").fetchone()[0]
    return {
        "synthetic": bool(synthetic),
        "latest_month": latest_month,
        "months": months,
        "published_at": published_at,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "suites": checks[0],
        "suites_passed": checks[1],
        "failed_months": checks[2],
        "full_year": full_year,
        "focus_name": focus_name[0] if focus_name else focus,
        "top_rows": [[n, _billions(e), _billions(i), _billions(b)] for n, e, i, b in top],
        "top_chart": bar_chart(
            "top-deficits-chart", f"largest deficits {full_year}", [(n, float(b)) for n, _, _, b in top]
        ),
        "ytd_chart": bar_chart("ytd-deficits-chart", "largest deficits year to date", [(n, float(b)) for n, b in ytd]),
        "named_rows": named_exports(con, focus, full_year),
        "trend_chart": line_chart(trend_series(con, partners), TREND_MARKERS),
        "drivers_chart": bar_chart("drivers-chart", "commodity drivers", drivers, width=900, left=380),
        "revisions": revision_data(con),
        "mirror": mirror_data(con),
        "states": state_watchlist_data(con, focus),
    }


def render(settings: Settings, partners: tuple[str, ...] | None = None, focus: str | None = None) -> Path:
    """Write ``serving/report/index.html`` from the serving snapshot; return its path."""
    default_partners, default_focus = report_partners()
    with open_served(settings) as con:  # the serving file, or the lake's published marts
        data = report_data(con, partners or default_partners, focus or default_focus)
    document = templates().get_template("report.html.j2").render(r=data)
    target = settings.report_path
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(document)
    os.replace(temp, target)
    return target
