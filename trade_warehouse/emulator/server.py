"""HTTP front of the emulator: routing, the key check, faults, and the Census response layout.

Implements the behaviour of the real API that a client depends on: key check first (302 +
``X-DataWebAPI-KeyError``), 404 for unknown datasets and 400 for the real ones it does not
serve, 204 for no rows or unreleased months, the JSON layout (an array of string arrays).
The query language is census_query.py, the rows query_engine.py, the faults a test switches
on state.py; ``/data/v1/get/C/M/HS`` is the UN Comtrade route (comtrade.py).
"""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from trade_warehouse.core.config import FLOWS
from trade_warehouse.emulator import comtrade
from trade_warehouse.emulator.census_query import QueryError, is_whole_month_detail, parse_query
from trade_warehouse.emulator.query_engine import QueryEngine
from trade_warehouse.emulator.state import (
    EmulatorState,
    Faults,
    apply_data_faults,
    apply_state_fault,
    take_request_faults,
    take_whole_month_fault,
)

__all__ = ["EmulatorState", "Faults", "Handler", "make_server", "render_json"]  # the first two: state.py

API_PREFIX = "/data/timeseries/intltrade/"
DATASETS = ("hs", "statehs")
OTHER_DATASETS = ("naics", "enduse", "sitc", "usda", "hitech", "porths", "statenaics")
MISSING_KEY_URL = "https://api.census.gov/data/missing_key.html"
INVALID_KEY_URL = "https://api.census.gov/data/invalid_key.html"
KEY_PAGES = ("/data/missing_key.html", "/data/invalid_key.html")
QUERY_FAILED = b"There was an error while running your query."


def render_json(header: list[str], rows: list[list[str]]) -> bytes:
    """The Census layout: a JSON array of string arrays, one row per line."""
    lines = [json.dumps(header)] + [json.dumps(row) for row in rows]
    return ("[" + ",\n".join(lines) + "]").encode("utf-8")


class Handler(BaseHTTPRequestHandler):
    server_version = "CensusEmulator/1.0"
    state: EmulatorState  # set on the subclass made by make_server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        return  # quiet: the query string carries the key, and tests want clean output

    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "text/plain;charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("X-Census-Emulator", "synthetic")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status != 204:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 204 and body:
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        url = urlsplit(self.path)
        if url.path in KEY_PAGES:
            title = "Missing Key" if "missing" in url.path else "Invalid Key"
            self._send(200, f"<html><body><h1>{title}</h1></body></html>".encode(), "text/html;charset=utf-8")
        elif url.path == comtrade.API_PATH:  # UN Comtrade's partner-side data (mirror statistics)
            comtrade.handle(self, comtrade.state_for(self.state), self.state.universe, url.query)
        else:
            route = self._census_route(url.path)
            pairs = parse_qsl(url.query, keep_blank_values=True)
            if route is not None and self._key_accepted(pairs) and not self._request_fault_sent():
                self._answer(*route, pairs)

    def _census_route(self, path: str) -> tuple[str, str] | None:
        """The flow and dataset of a Census data path; None once another path is answered (404, 400, metadata)."""
        parts = path[len(API_PREFIX) :].strip("/").split("/") if path.startswith(API_PREFIX) else []
        if len(parts) != 2 or parts[0] not in FLOWS:
            self._send(404, b"error: unknown dataset")
            return None
        flow, dataset = parts
        if dataset.endswith(".json") or dataset.endswith(".html"):
            self._send(200, json.dumps({"dataset": dataset, "emulator": True}).encode(), "application/json")
            return None
        if dataset not in DATASETS:
            status = 400 if dataset in OTHER_DATASETS else 404
            message = f"error: the Census emulator serves only the hs and statehs datasets, not '{dataset}'"
            self._send(status, message.encode())
            return None
        return flow, dataset

    def _key_accepted(self, pairs: list[tuple[str, str]]) -> bool:
        """The real API checks the key before anything else: 302 to its key page when missing or wrong."""
        keys = [v for k, v in pairs if k == "key"]
        if keys and keys[0] in self.state.api_keys:
            return True
        page = INVALID_KEY_URL if keys and keys[0] else MISSING_KEY_URL
        self._send(302, b"", headers={"Location": page, "X-DataWebAPI-KeyError": "1"})
        return False

    def _request_fault_sent(self) -> bool:
        """Answer with a fault a test switched on (429, 500, an HTML 200) instead of data, if any."""
        inject_500, inject_429 = take_request_faults(self.state)
        faults = self.state.faults
        if faults.slow_seconds:
            time.sleep(faults.slow_seconds)
        if inject_429:
            self._send(429, b"Too Many Requests", headers={"Retry-After": "1"})
        elif inject_500:
            self._send(500, QUERY_FAILED)
        elif faults.html_200:
            self._send(200, b"<html><body>Service maintenance</body></html>", "text/html;charset=utf-8")
        else:
            return False
        return True

    def _answer(self, flow: str, dataset: str, pairs: list[tuple[str, str]]) -> None:
        faults = self.state.faults
        try:
            query = parse_query(flow, pairs, dataset)
            if is_whole_month_detail(query) and take_whole_month_fault(self.state):
                raise QueryError(500, QUERY_FAILED.decode())
            header, rows = QueryEngine(self.state).run(query)
        except QueryError as error:
            self._send(error.status, error.message.encode())
            return
        if not rows:
            self._send(204)
            return
        header, rows = apply_data_faults(faults, header, rows)
        if dataset == "statehs":
            rows = apply_state_fault(faults, header, rows)
        body = render_json(header, rows)
        if faults.truncate_json:
            body = body[: len(body) // 2]
        self._send(200, body, "application/json;charset=utf-8")


def make_server(state: EmulatorState, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A threading HTTP server answering both emulated APIs from ``state``; port 0 picks a free one."""
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
