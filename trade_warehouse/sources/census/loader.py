"""Load landed Census flow-months into the raw tables, through the GX gate.

For each flow-month: stage its latest complete extraction (``reader.stage_month``),
unless its files, or its rows, equal the loaded version (then an ``unchanged`` audit row);
then validate the staged months of a flow a few at a time and swap in each one that
passed (``swap.validate_and_swap``). A month that fails becomes a
:class:`~trade_warehouse.core.results.MonthFailure`; the other months go on.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb

from trade_warehouse.core.config import Settings
from trade_warehouse.core.progress import time_left
from trade_warehouse.core.results import FlowMonth, LoadResult, MonthFailure, MonthLoad
from trade_warehouse.load import gate
from trade_warehouse.load.landing import latest_landed
from trade_warehouse.load.warehouse import (
    CurrentLoad,
    as_json,
    content_fingerprint,
    current_load,
    insert_load_audit,
    lane_connection,
    open_writer,
    trailing_row_counts,
)
from trade_warehouse.sources.census.api import is_state_flow
from trade_warehouse.sources.census.history import ensure_history_table
from trade_warehouse.sources.census.reader import drop_stage, stage_month
from trade_warehouse.sources.census.swap import Outcome, PendingMonth, failed_load, validate_and_swap

log = logging.getLogger(__name__)
VALIDATION_BATCH = 6  # months of one flow staged at once and validated in one GX run per suite


def load_and_validate(settings: Settings, targets: list[FlowMonth], run_id: str, force: bool = False) -> LoadResult:
    """Load each landed flow-month through the GX gate into the raw tables.

    A month whose landed content equals the loaded version is skipped (unless ``force``);
    a month that fails validation keeps its previous version and is reported. Months of a
    flow are staged a few at a time and validated together (``checks.validate_months``),
    each still passing or failing on its own; each passing month is swapped in in its own
    transaction. Flows load side by side, one lane per flow (``settings.load_lanes``):
    first the national flows, then the state flows, whose gate reconciles them with the
    national months loaded in the first phase.
    """
    if targets:
        gate.warm_up()  # GX's import overlaps the reading of the first months
    progress = _Progress(total=len(targets))
    with open_writer(settings) as con:
        ensure_history_table(con)  # before the lanes, whose swaps append to it
        for phase in _phases(targets):
            _load_phase(con, settings, phase, run_id, force, progress)
    return progress.result


def _phases(targets: list[FlowMonth]) -> list[list[list[list[FlowMonth]]]]:
    """The targets' batches per flow (a lane), national flows in one phase, state flows in the next."""
    national = [t for t in targets if not is_state_flow(t.flow)]
    state = [t for t in targets if is_state_flow(t.flow)]
    phases = []
    for group in (national, state):
        lanes: dict[str, list[list[FlowMonth]]] = {}
        for batch in _batches(group):
            lanes.setdefault(batch[0].flow, []).append(batch)
        if lanes:
            phases.append(list(lanes.values()))
    return phases


def _load_phase(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    lanes: list[list[list[FlowMonth]]],
    run_id: str,
    force: bool,
    progress: _Progress,
) -> None:
    """Load each lane's batches in order; lanes run side by side on connections of their own.

    Why threads: DuckDB reads one gzip file on one core and releases the GIL while it
    works, so a second flow's months keep the other core busy (GX, pure Python, is
    serialised in ``gate``). Lanes never touch the same rows: each flow has its own raw
    tables, and the audit tables only get inserts.
    """
    workers = min(settings.load_lanes, len(lanes))
    if workers <= 1:
        for batch in (batch for lane in lanes for batch in lane):
            _load_batch(con, settings, batch, run_id, force, progress)
        return

    def run_lane(lane: list[list[FlowMonth]]) -> None:
        with lane_connection(con, settings) as lane_con:
            for batch in lane:
                _load_batch(lane_con, settings, batch, run_id, force, progress)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="load-lane") as pool:
        for future in [pool.submit(run_lane, lane) for lane in lanes]:
            future.result()  # a lane's unexpected error fails the load as it did with one lane


@dataclass
class _Progress:
    """The load's result so far, and one log line per settled flow-month with a running count."""

    total: int
    result: LoadResult = field(default_factory=LoadResult)
    done: int = 0
    began: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)  # lanes record from their threads

    def record(self, target: FlowMonth, outcome: Outcome, started: float) -> None:
        with self.lock:
            self._record(target, outcome, started)

    def _record(self, target: FlowMonth, outcome: Outcome, started: float) -> None:
        self.done += 1
        result = self.result
        if isinstance(outcome, MonthFailure):
            result.failures.append(outcome)
        else:
            (result.loaded if outcome.status == "loaded" else result.unchanged).append(outcome)
        # one line per flow-month with a running count: a long backfill shows its progress
        status = outcome.stage + " failed" if isinstance(outcome, MonthFailure) else outcome.status
        rows = getattr(outcome, "rows", None)
        log.info(
            "load %d/%d %s %s: %s, %s rows, %.1fs (so far: %d loaded, %d unchanged, %d failed%s)",
            self.done,
            self.total,
            target.flow,
            target.month,
            status,
            "-" if rows is None else rows,
            time.monotonic() - started,
            len(result.loaded),
            len(result.unchanged),
            len(result.failures),
            "; " + left if (left := time_left(self.done, self.total, time.monotonic() - self.began)) else "",
        )


def _batches(targets: list[FlowMonth]) -> list[list[FlowMonth]]:
    """The targets by flow (in order of first appearance), in month order, VALIDATION_BATCH at a time."""
    by_flow: dict[str, list[FlowMonth]] = {}
    for target in targets:
        by_flow.setdefault(target.flow, []).append(target)
    batches = []
    for flow_targets in by_flow.values():
        ordered = sorted(flow_targets, key=lambda t: t.month)
        batches += [ordered[i : i + VALIDATION_BATCH] for i in range(0, len(ordered), VALIDATION_BATCH)]
    return batches


def _load_batch(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    batch: list[FlowMonth],
    run_id: str,
    force: bool,
    progress: _Progress,
) -> None:
    """Stage a batch's months one by one, then validate and swap the staged ones together."""
    pending: list[PendingMonth] = []
    try:
        for target in batch:
            started = time.monotonic()
            try:
                outcome = _prepare(con, settings, target, run_id, force, pending)
            except Exception as error:  # an unreadable manifest or record: this month fails, the others go on
                reason = f"{error.__class__.__name__}: {error}"
                outcome = MonthFailure(target.flow, target.month, "load", transient=False, reason=reason)
            if isinstance(outcome, PendingMonth):
                pending.append(outcome)
            else:
                progress.record(target, outcome, started)
        if pending:
            for item, outcome in validate_and_swap(con, settings, pending, run_id):
                progress.record(FlowMonth(item.staged.flow, item.staged.month), outcome, item.started)
    finally:
        for item in pending:
            drop_stage(con, item.staged)


def _prepare(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    target: FlowMonth,
    run_id: str,
    force: bool,
    pending: list[PendingMonth],
) -> PendingMonth | Outcome:
    """Stage one landed flow-month, unless its files, or its rows, equal the loaded version."""
    flow, month = target.flow, target.month
    level = settings.level_for(flow)
    files = latest_landed(settings.landing_dir, flow, level, month)
    if not files or not any(f.kind == "detail" for f in files) or not any(f.kind == "totals" for f in files):
        reason = "no complete landed extraction (detail and totals) for this month"
        return MonthFailure(flow, month, "load", transient=False, reason=reason)
    fingerprint = content_fingerprint(files)
    current = None if force else current_load(con, flow, level, month)
    if current and current.content_sha256 == fingerprint:
        why = "landed files identical to those of load"
        return _record_unchanged(con, settings, run_id, target, fingerprint, current, why)
    load_id = str(uuid.uuid4())
    audit = {
        "load_id": load_id,
        "run_id": run_id,
        "flow": flow,
        "hs_level": files[0].hs_level,
        "month": f"{month}-01",
        "content_sha256": fingerprint,
        "files": as_json([{"path": f.path, "sha256": f.sha256, "part": f.part} for f in files]),
        "started_at": datetime.now(UTC).replace(tzinfo=None),
    }
    started = time.monotonic()
    try:
        staged = stage_month(con, files, load_id)
    except Exception as error:  # recorded, reported, and the other months go on
        return failed_load(con, audit, error)
    if current is not None and current.data_sha256 == staged.data_sha256:
        # other files (e.g. fetched in parts, not whole) but the same rows: nothing to reload
        drop_stage(con, staged)
        why = "landed data (other files, same rows) identical to load"
        return _record_unchanged(con, settings, run_id, target, fingerprint, current, why, staged.data_sha256)
    # the row-count band: the loaded months before this one, and the months staged before it
    # in this batch (a backfill into an empty warehouse still compares each month with the last)
    earlier = {p.staged.month: p.staged.detail_rows for p in pending}
    trailing = trailing_row_counts(con, flow, staged.hs_level, month, pending=earlier)
    return PendingMonth(staged, audit, trailing, started)


def _record_unchanged(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    run_id: str,
    target: FlowMonth,
    fingerprint: str,
    current: CurrentLoad,
    why: str,
    data_sha256: str | None = None,
) -> MonthLoad:
    """An `unchanged` audit row: this attempt found the loaded version's data again and kept it."""
    now = datetime.now(UTC).replace(tzinfo=None)
    insert_load_audit(
        con,
        {
            "load_id": str(uuid.uuid4()),
            "run_id": run_id,
            "flow": target.flow,
            "hs_level": settings.level_for(target.flow),
            "month": f"{target.month}-01",
            "content_sha256": fingerprint,
            "data_sha256": data_sha256 or current.data_sha256,
            "status": "unchanged",
            "error": f"{why} {current.load_id}; kept it",
            "started_at": now,
            "finished_at": now,
            "duration_s": 0.0,
        },
    )
    return MonthLoad(target.flow, target.month, "unchanged", load_id=current.load_id)
