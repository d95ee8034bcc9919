"""The report's charts: bar labels keep their commodity code and fit the left margin, the trend
axis reads in round values, checked on the rendered SVG and in headless Chromium.

Found in Chromium (issue 21): `MOTOR CARS AND OTHER MOTOR VEHICLE…` lost its `8703` off the
chart's left edge, and the trend axis was labelled -7, -14, -20, -27.
"""

import math
import re
import subprocess
from pathlib import Path

import pytest

from trade_warehouse.report.html import bar_chart, fit_label, line_chart, nice_ticks, templates, text_width

pytestmark = pytest.mark.integration

CARS = "8703 MOTOR CARS AND OTHER MOTOR VEHICLES PRINCIPALLY DESIGNED FOR THE TRANSPORT OF PERSONS"
DRIVERS = [
    (CARS, -52.3e9),
    ("8708 PARTS AND ACCESSORIES OF THE MOTOR VEHICLES OF HEADINGS 8701 TO 8705", -9.1e9),
    ("2711 PETROLEUM GASES AND OTHER GASEOUS HYDROCARBONS", 1.2e9),
    ("0701 POTATOES, FRESH OR CHILLED", 0.01e9),
    ("9999 WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW", -1e9),  # the widest glyphs there are
]
# the default 250px margin: a partner chart, and the cars heading as the report first drew it
PARTNERS = [("CHINA", -347e9), ("BOSNIA AND HERZEGOVINA, FEDERATION OF (ALSO SERBIA)", -0.2e9), (CARS, -52.3e9)]


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (-27.3e9, 0, [-30e9, -25e9, -20e9, -15e9, -10e9, -5e9, 0]),
        (-69e9, 5e9, [-80e9, -60e9, -40e9, -20e9, 0, 20e9]),
        (-1.2e9, 0.3e9, [-1.5e9, -1e9, -0.5e9, 0, 0.5e9]),
        (0, 12, [0, 2, 4, 6, 8, 10, 12]),
    ],
)
def test_nice_ticks_are_round_steps_covering_the_range(low, high, expected):
    ticks = nice_ticks(low, high)
    assert ticks == pytest.approx(expected)
    assert ticks[0] <= low and ticks[-1] >= high
    step = ticks[1] - ticks[0]
    assert round(step / 10 ** math.floor(math.log10(step)), 6) in (1, 2, 5)


def test_long_commodity_labels_keep_the_code_and_fit_the_margin():
    assert fit_label("CHINA", 244) == "CHINA"
    short = fit_label(CARS, 244)
    assert short.startswith("8703 MOTOR CARS") and short.endswith("\u2026") and text_width(short) <= 244
    assert fit_label(CARS, 40) == "8703\u2026"  # no room for any description: the code still shows
    for chart in (bar_chart("d", "drivers", DRIVERS, width=900, left=380), bar_chart("p", "partners", PARTNERS)):
        for bar in chart.bars:
            assert text_width(bar.short) <= chart.label_room, bar.short
            if bar.label[:4].isdigit():
                assert bar.short.startswith(bar.label[:5]), bar.short

    macros = templates().get_template("charts.html.j2").module
    svg = str(macros.bar_chart(bar_chart("drivers-chart", "drivers", DRIVERS, width=900, left=380)))
    labels = re.findall(r'<text x="([\d.]+)" [^>]*text-anchor="end"><title>(.*?)</title>(.*?)</text>', svg)
    assert [shown[:4] for _, _, shown in labels] == ["8703", "8708", "2711", "0701", "9999"]
    assert all(float(x) == 374 for x, _, _ in labels)  # right-aligned at the margin, less the gap


def test_trend_axis_ticks_are_round_values():
    series = {"KOREA, SOUTH": [("2016-01", -2.1e9), ("2016-02", -27.3e9), ("2016-03", -13e9)]}
    chart = line_chart(series)
    assert [t["label"] for t in chart.ticks] == ["-30", "-25", "-20", "-15", "-10", "-5", "0"]
    svg = str(templates().get_template("charts.html.j2").module.line_chart(chart))
    shown = re.findall(r'text-anchor="end">(-?[\d.,]+)</text>', svg)
    assert shown == ["-30", "-25", "-20", "-15", "-10", "-5", "0"]
    # the axis spans the ticks: the lowest tick is the bottom of the plot, 0 the top
    assert chart.ticks[0]["y"] == pytest.approx(chart.height - chart.bottom)
    assert chart.ticks[-1]["y"] == pytest.approx(chart.top)


CHROMIUM = "/usr/bin/chromium"
# Measures every right-aligned label of the bar charts as Chromium lays it out, into the DOM.
MEASURE = """<pre id="measured"></pre><script>
const out = [];
for (const svg of document.querySelectorAll('svg.chart')) {
  const left = svg.getBoundingClientRect().left;
  for (const t of svg.querySelectorAll('text[text-anchor="end"]')) {
    const box = t.getBoundingClientRect();
    out.push([svg.id, t.lastChild.textContent, (box.left - left).toFixed(1), (box.right - left).toFixed(1)].join('|'));
  }
}
document.getElementById('measured').textContent = out.join('\\n');
</script>"""


def test_labels_are_inside_the_chart_in_chromium(tmp_path: Path):
    if not Path(CHROMIUM).exists():
        pytest.fail("the report test needs Debian's chromium: apt-get install -y chromium (.ci/run installs it)")
    macros = templates().get_template("charts.html.j2").module
    drivers = bar_chart("drivers-chart", "drivers", DRIVERS, width=900, left=380)
    partners = bar_chart("partners-chart", "partners", PARTNERS)
    page = tmp_path / "charts.html"
    style = "<style>body{font-family:system-ui,sans-serif;font-size:14px}.chart text{font-size:11px}</style>"
    page.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'>{style}</head><body>"
        f"{macros.bar_chart(drivers)}{macros.bar_chart(partners)}{MEASURE}</body></html>",
        encoding="utf-8",
    )
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    measured = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.S).group(1).strip().splitlines()
    assert len(measured) == len(DRIVERS) + len(PARTNERS), dom[-2000:]
    for line in measured:
        chart, shown, start, end = line.split("|")
        assert float(start) >= 0, f"{chart}: {shown!r} starts {start}px left of the chart"
        room = (drivers if chart == "drivers-chart" else partners).label_room
        assert float(end) <= room + 1, f"{chart}: {shown!r} runs into the bars"
    assert any(line.split("|")[1].startswith("8703 MOTOR CARS") for line in measured)
