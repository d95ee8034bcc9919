"""What one emulator process holds: its universe, keys, latest month, and the faults a test switches on.

A test changes ``EmulatorState.faults`` on the emulator it runs; the request handler takes
the counted faults (``fail_next``, ``status_429``, ``fail_whole_month``) under the lock, one
per request, and applies the data faults to the rows it answers.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from trade_warehouse.emulator import comtrade
from trade_warehouse.emulator.synthetic import Universe


@dataclass
class Faults:
    """Faults a test switches on in the emulator it runs (``EmulatorState.faults``)."""

    fail_next: int = 0  # answer the next N data requests with HTTP 500
    slow_seconds: float = 0.0  # delay every data request
    html_200: bool = False  # answer 200 with an HTML body
    truncate_json: bool = False  # cut the JSON body in half
    drop_column: str | None = None  # remove this column from header and rows
    duplicate_rows: bool = False  # repeat the first data row
    wrong_month: str | None = None  # label every row with this month instead
    status_429: int = 0  # answer the next N data requests with 429 + Retry-After: 1
    corrupt_month: str | None = None  # repeat the first data row, only in responses for this month
    fail_whole_month: int = 0  # answer the next N whole-month detail requests (no commodity predicate) with 500
    # a bad state-level detail row (statehs, by state x partner x commodity): "unknown_state" (code ZZ),
    # "off_national" (one state's value $1,000 higher, so the states miss the national value), "negative"
    state_fault: str | None = None


@dataclass
class EmulatorState:
    universe: Universe
    api_keys: frozenset[str]
    latest_month: str
    row_budget: int = 2_000_000
    vintage: int = 0
    faults: Faults = field(default_factory=Faults)
    lock: threading.Lock = field(default_factory=threading.Lock)
    request_count: int = 0
    comtrade: comtrade.ComtradeState | None = None  # the UN Comtrade route's state (see emulator/comtrade.py)


def take_request_faults(state: EmulatorState) -> tuple[bool, bool]:
    """Count the data request; take one pending (HTTP 500, HTTP 429) fault of each kind."""
    with state.lock:
        state.request_count += 1
        faults = state.faults
        inject_500 = faults.fail_next > 0
        faults.fail_next -= inject_500
        inject_429 = faults.status_429 > 0
        faults.status_429 -= inject_429
    return inject_500, inject_429


def take_whole_month_fault(state: EmulatorState) -> bool:
    """Take one pending ``fail_whole_month`` fault, if any."""
    with state.lock:
        if state.faults.fail_whole_month > 0:
            state.faults.fail_whole_month -= 1
            return True
    return False


def apply_data_faults(faults: Faults, header: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """The rows as a misbehaving server would send them: a column dropped, a row repeated, a wrong month."""
    if faults.drop_column and faults.drop_column in header:
        index = header.index(faults.drop_column)
        header = header[:index] + header[index + 1 :]
        rows = [row[:index] + row[index + 1 :] for row in rows]
    if faults.duplicate_rows:
        rows = [rows[0]] + rows
    if faults.corrupt_month and "time" in header and rows[0][header.index("time")] == faults.corrupt_month:
        rows = [rows[0]] + rows
    if faults.wrong_month and "time" in header:
        index = header.index("time")
        rows = [row[:index] + [faults.wrong_month] + row[index + 1 :] for row in rows]
    return header, rows


STATE_FAULTS = ("unknown_state", "off_national", "negative")


def apply_state_fault(faults: Faults, header: list[str], rows: list[list[str]]) -> list[list[str]]:
    """A statehs detail response with one bad row, as ``faults.state_fault`` says (see :class:`Faults`)."""
    fault = faults.state_fault
    if fault is None or "STATE" not in header or "CTY_CODE" not in header:
        return rows
    if fault not in STATE_FAULTS:
        raise ValueError(f"unknown state fault {fault!r}; use one of {', '.join(STATE_FAULTS)}")
    state, country = header.index("STATE"), header.index("CTY_CODE")
    value = header.index("ALL_VAL_MO" if "ALL_VAL_MO" in header else "GEN_VAL_MO")
    target = next((i for i, row in enumerate(rows) if row[state] not in ("-", "XX") and row[country] != "-"), None)
    if target is None:
        return rows
    row = list(rows[target])
    if fault == "unknown_state":
        row[state] = "ZZ"
    elif fault == "off_national":
        row[value] = str(int(row[value]) + 1000)
    else:
        row[value] = str(-int(row[value]) or -1)
    return rows[:target] + [row] + rows[target + 1 :]
