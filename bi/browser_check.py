"""Open the dashboard in headless Chromium as a user would; runs in the BI venv (Playwright).

Logs in through Superset's login form, opens the dashboard, waits (bounded) until every
chart tile has either drawn (an ECharts canvas, table rows or the country map's SVG regions)
or failed, takes a full-page screenshot and measures it, and prints one JSON line for the
test to judge: the tiles (with the map's regions and how many are filled), any error tiles,
the dashboard's visible text, the screenshot's colour statistics and what the legacy charts
(the country map) received from ``/superset/explore_json/`` with the dashboard's native
filters applied. Debian's Chromium is driven directly (Playwright's browser download is not
used), with the headless flags that work in this environment.

Usage: python browser_check.py <superset url> <dashboard path> <screenshot.png> <profile dir>
(admin password in TRADE_BI_ADMIN_PASSWORD).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter

from PIL import Image
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get("TRADE_BI_CHROMIUM", "/usr/bin/chromium")
DASHBOARD_ATTEMPTS = 3
DASHBOARD_ATTEMPT_S = 60.0  # one attempt's wait for the tiles (a quiet machine: 2 to 5 s)
TILE = '[data-test="dashboard-component-chart-holder"]'
SCREENSHOT_ATTEMPTS = 4
DRAWN_FRACTION = 0.05  # the share of non-background pixels the tests expect of a drawn dashboard
LEGACY_DATA = "/superset/explore_json/"  # where legacy charts (country_map) fetch their data
LOGIN_ATTEMPTS = 3
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TILES_JS = """
() => [...document.querySelectorAll('[data-test="dashboard-component-chart-holder"]')].map(tile => ({
    title: (tile.querySelector('[data-test="editable-title"], .header-title') || {}).innerText || '',
    canvas: tile.querySelectorAll('canvas').length,
    rows: tile.querySelectorAll('table tbody tr').length,
    // the country map: one SVG path per region, filled from the data or 'none' (no data)
    paths: tile.querySelectorAll('svg path.region').length,
    fills: [...tile.querySelectorAll('svg path.region')].map(p => getComputedStyle(p).fill)
        .filter(f => f && f !== 'none'),
    loading: tile.querySelectorAll('[data-test="loading-indicator"], .loading').length,
    error: [...tile.querySelectorAll('.ant-alert-error, [role="alert"], [data-test="error-tooltip"]')]
        .map(e => e.innerText || e.getAttribute('aria-label') || 'error').join(' | '),
    text: tile.innerText,
}))
"""


def screenshot_stats(path: str) -> dict:
    """How much of the page is not background, and how many colours: a blank page has ~0 and a few."""
    image = Image.open(path).convert("RGB")
    small = image.resize((image.width // 4, image.height // 4))
    # one count per colour (max(set, key=list.count) was 45 s of CPU on a 3000-px page)
    counts = Counter(small.getdata())
    background = counts.most_common(1)[0][0]
    differing = sum(n for p, n in counts.items() if sum(abs(a - b) for a, b in zip(p, background, strict=True)) > 30)
    pixels = small.width * small.height
    return {
        "width": image.width,
        "height": image.height,
        "colours": len(counts),
        "non_background_fraction": differing / pixels,
    }


def settled(tile: dict) -> bool:
    """A tile done loading that drew something: a canvas, table rows or the map's regions."""
    return not tile["loading"] and bool(tile["canvas"] or tile["rows"] or tile["paths"])


def legacy_payloads(responses: list) -> list[dict]:
    """What each legacy chart query answered, in arrival order: the chart, its rows and filters.

    The country map draws from these rows, so the test can hold them against the marts
    (with the dashboard's default filters applied, which only the browser sends).
    """
    payloads = []
    for response in responses:
        try:
            body = response.json()
        except Exception:  # noqa: BLE001 - an aborted or non-JSON answer carries no chart data
            continue
        form_data = body.get("form_data") or {}
        payloads.append(
            {
                "status": response.status,
                "slice_id": form_data.get("slice_id"),
                "viz_type": form_data.get("viz_type"),
                "data": body.get("data"),
                "applied_filters": [f.get("column") for f in body.get("applied_filters") or []],
                "rejected_filters": [f.get("column") for f in body.get("rejected_filters") or []],
                "error": body.get("error") or body.get("errors") or None,
            }
        )
    return payloads


class Network:
    """What the page asked the server for: requests still open, failed or answered >= 400, and
    the page's own errors. A dashboard that never draws says why (a stalled API call, a
    script chunk that did not load, a JavaScript error) instead of only "timeout"."""

    def __init__(self, page) -> None:
        self.started: dict = {}  # request -> monotonic start
        self.failed: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.started.__setitem__(r, time.monotonic()))
        page.on("requestfinished", lambda r: self.started.pop(r, None))
        page.on("requestfailed", self._failed)
        page.on("response", lambda r: self.errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.on(
            "console", lambda m: self.errors.append(f"console {m.type}: {m.text[:300]}") if m.type == "error" else None
        )
        page.on("pageerror", lambda e: self.errors.append(f"page error: {str(e)[:300]}"))
        page.on("crash", lambda _: self.errors.append("the page crashed"))

    def _failed(self, request) -> None:
        self.started.pop(request, None)
        self.failed.append(f"{request.failure} {request.url}")

    def report(self) -> dict:
        now = time.monotonic()
        pending = sorted(((now - t, r.url) for r, t in self.started.items()), reverse=True)
        return {
            "pending": [f"{age:.0f}s {url}" for age, url in pending[:20]],
            "failed": self.failed[-20:],
            "errors": self.errors[-20:],
        }


def log_in(page, url: str, timeout_s: float) -> None:
    """Log in through the form; a click on a form React has not wired up yet submits nothing."""
    page.goto(f"{url}/login/")
    for attempt in range(LOGIN_ATTEMPTS):
        page.fill('[data-test="username-input"]', "admin")
        page.fill('[data-test="password-input"]', os.environ["TRADE_BI_ADMIN_PASSWORD"])
        page.click('[data-test="login-button"]')
        try:
            page.wait_for_url(lambda u: "/login" not in u, timeout=timeout_s * 1000 / LOGIN_ATTEMPTS)
            return
        except PlaywrightTimeoutError:
            if attempt == LOGIN_ATTEMPTS - 1:
                raise
            page.goto(f"{url}/login/")
            if "/login" not in page.url:  # the slow click did log in: Superset sent us on
                return


def open_dashboard(browser, url: str, timeout_s: float, screenshot: str) -> tuple:
    """Open the dashboard until its tiles appear (bounded attempts, each in a new tab).

    On a loaded machine the dashboard's first render can stall; a new tab loads it again.
    Every stalled attempt is kept (what was pending, what failed, the page's text and a
    screenshot) and, when no attempt succeeds, raised in a DashboardStalled.
    """
    stalls = []
    for attempt in range(DASHBOARD_ATTEMPTS):
        page = browser.new_page()
        page.set_default_timeout(timeout_s * 1000)
        network = Network(page)
        legacy: list = []
        page.on("response", lambda r, legacy=legacy: legacy.append(r) if LEGACY_DATA in r.url else None)
        try:
            page.goto(url)
            page.wait_for_selector(TILE, timeout=DASHBOARD_ATTEMPT_S * 1000)
            return page, legacy, stalls
        except PlaywrightTimeoutError as error:
            shot = screenshot.replace(".png", f"-stalled-{attempt + 1}.png")
            try:
                page.screenshot(path=shot, full_page=True)
                text = page.inner_text("body")[:1500]
            except Exception as detail:  # noqa: BLE001 - a crashed page has no text: say so
                shot, text = None, f"(page unreadable: {detail})"
            stalls.append(
                {
                    "attempt": attempt + 1,
                    "error": str(error).splitlines()[0],
                    "url": page.url,
                    "text": text,
                    "screenshot": shot,
                    **network.report(),
                }
            )
            page.close()
    raise DashboardStalled(stalls)


class DashboardStalled(Exception):
    """No attempt drew the dashboard's tiles; args[0] holds each attempt's diagnostics."""


def main(url: str, dashboard_path: str, screenshot: str, profile: str, timeout_s: float = 120.0) -> dict:
    phases: dict[str, float] = {}
    began = time.monotonic()
    with sync_playwright() as p:
        # A new, empty profile per run (the caller passes a fresh directory).
        browser = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1400, "height": 1800},
        )
        try:
            login_page = browser.new_page()
            login_page.set_default_timeout(timeout_s * 1000)
            log_in(login_page, url, timeout_s)
            phases["login_s"] = time.monotonic() - began
            page, legacy, stalls = open_dashboard(browser, f"{url}{dashboard_path}", timeout_s, screenshot)
            phases["dashboard_s"] = time.monotonic() - began
            wait_for_tiles(page, timeout_s)
            phases["tiles_s"] = time.monotonic() - began
            stats = take_screenshot(page, screenshot)
            phases["screenshot_s"] = time.monotonic() - began
            return {
                "url": page.url,
                "tiles": page.evaluate(TILES_JS),
                "page_text": page.inner_text("body"),
                "legacy_data": legacy_payloads(legacy),
                "screenshot": screenshot,
                "phases": {k: round(v, 1) for k, v in phases.items()},
                "stalled_attempts": stalls,
                **stats,
            }
        finally:
            browser.close()


def wait_for_tiles(page, timeout_s: float) -> list[dict]:
    """Wait (bounded) until every tile drew or failed; return the tiles as last seen."""
    deadline = time.monotonic() + timeout_s
    tiles = page.evaluate(TILES_JS)
    while time.monotonic() < deadline:
        tiles = page.evaluate(TILES_JS)
        if tiles and all(t["error"] or settled(t) for t in tiles):
            break
        time.sleep(1)
    return tiles


def take_screenshot(page, screenshot: str) -> dict:
    """A full-page screenshot and its colour statistics, retaken (bounded) if caught blank.

    A full-page screenshot resizes the page, and the grid redraws its tiles; on a loaded
    machine the capture can catch them blank. A dashboard that really is blank stays blank
    and fails the caller's check.
    """
    stats: dict = {}
    for _ in range(SCREENSHOT_ATTEMPTS):
        time.sleep(2)  # let ECharts finish its entry animation before the screenshot
        page.screenshot(path=screenshot, full_page=True)
        stats = screenshot_stats(screenshot)
        if stats["non_background_fraction"] > DRAWN_FRACTION:
            break
    return stats


if __name__ == "__main__":
    try:
        print("TRADE_BI_BROWSER " + json.dumps(main(*sys.argv[1:5])))
    except DashboardStalled as stalled:
        print("TRADE_BI_BROWSER_STALLED " + json.dumps(stalled.args[0]))
        sys.exit(3)
