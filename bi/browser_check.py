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

from PIL import Image
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get("TRADE_BI_CHROMIUM", "/usr/bin/chromium")
DASHBOARD_ATTEMPTS = 2
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
    pixels = [small.getpixel((x, y)) for y in range(small.height) for x in range(small.width)]
    background = max(set(pixels), key=pixels.count)
    differing = sum(1 for p in pixels if sum(abs(a - b) for a, b in zip(p, background, strict=True)) > 30)
    return {
        "width": image.width,
        "height": image.height,
        "colours": len(set(pixels)),
        "non_background_fraction": differing / len(pixels),
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


def main(url: str, dashboard_path: str, screenshot: str, profile: str, timeout_s: float = 120.0) -> dict:
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
            page = browser.new_page()
            page.set_default_timeout(timeout_s * 1000)
            page.goto(f"{url}/login/")
            for attempt in range(LOGIN_ATTEMPTS):
                # a click on a form React has not wired up yet submits nothing: log in again
                page.fill('[data-test="username-input"]', "admin")
                page.fill('[data-test="password-input"]', os.environ["TRADE_BI_ADMIN_PASSWORD"])
                page.click('[data-test="login-button"]')
                try:
                    page.wait_for_url(lambda u: "/login" not in u, timeout=timeout_s * 1000 / LOGIN_ATTEMPTS)
                    break
                except PlaywrightTimeoutError:
                    if attempt == LOGIN_ATTEMPTS - 1:
                        raise
                    page.goto(f"{url}/login/")
                    if "/login" not in page.url:  # the slow click did log in: Superset sent us on
                        break
            legacy: list = []
            page.on("response", lambda r: legacy.append(r) if LEGACY_DATA in r.url else None)
            for attempt in range(DASHBOARD_ATTEMPTS):
                # on a loaded machine the dashboard's first render can stall: load the page again
                legacy.clear()
                page.goto(f"{url}{dashboard_path}")
                try:
                    page.wait_for_selector(
                        '[data-test="dashboard-component-chart-holder"]', timeout=timeout_s * 1000 / DASHBOARD_ATTEMPTS
                    )
                    break
                except PlaywrightTimeoutError:
                    if attempt == DASHBOARD_ATTEMPTS - 1:
                        raise
            deadline = time.monotonic() + timeout_s
            tiles = page.evaluate(TILES_JS)
            while time.monotonic() < deadline:
                tiles = page.evaluate(TILES_JS)
                if tiles and all(t["error"] or settled(t) for t in tiles):
                    break
                time.sleep(1)
            for _ in range(SCREENSHOT_ATTEMPTS):
                time.sleep(2)  # let ECharts finish its entry animation before the screenshot
                tiles = page.evaluate(TILES_JS)
                # A full-page screenshot resizes the page, and the grid redraws its tiles; on a
                # loaded machine the capture can catch them blank. Take it again (bounded): a
                # dashboard that really is blank stays blank and fails the caller's check.
                page.screenshot(path=screenshot, full_page=True)
                stats = screenshot_stats(screenshot)
                if stats["non_background_fraction"] > DRAWN_FRACTION:
                    break
            return {
                "url": page.url,
                "tiles": tiles,
                "page_text": page.inner_text("body"),
                "legacy_data": legacy_payloads(legacy),
                "screenshot": screenshot,
                **stats,
            }
        finally:
            browser.close()


if __name__ == "__main__":
    print("TRADE_BI_BROWSER " + json.dumps(main(*sys.argv[1:5])))
