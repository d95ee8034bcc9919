"""Extract: fetch every flow x month from the Census API and land it, failures collected per month.

Each flow is one stream (one worker thread) that takes its months in order, so a month
starts from what the previous month of the same flow taught about request sizes (see
``split``); the two flows run side by side. Each worker returns one outcome per
flow-month; the calling thread gathers them into the run's :class:`ExtractResult`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from trade_warehouse.core.config import STATE_FLOWS, Settings, hs_level_digits
from trade_warehouse.core.progress import time_left
from trade_warehouse.core.results import ExtractResult, FlowMonth, MonthFailure
from trade_warehouse.load.landing import (
    LandedFile,
    latest_extraction,
    latest_landed,
    nearest_extraction,
    record_extraction,
)
from trade_warehouse.sources.census.api import CensusAuthError, CensusError, Response
from trade_warehouse.sources.census.client import CensusClient
from trade_warehouse.sources.census.landing import land_response
from trade_warehouse.sources.census.plan import census_credentials
from trade_warehouse.sources.census.split import DetailExtraction, HeavyBudget, SizeMemory, extract_detail

log = logging.getLogger(__name__)
COST_FIELDS = ("mode", "parts", "detail_requests", "failed", "rows", "bytes", "seconds")


def extract(
    settings: Settings, months: list[str], flows: tuple[str, ...] | None = None, run_id: str | None = None
) -> ExtractResult:
    """Fetch and land every flow x month; failures are collected per month, not raised.

    Each flow is one stream that takes its months in order, so a month starts from what
    the previous month of the same flow taught about request sizes (see
    ``split_extraction``); ``settings.concurrency`` streams run side by side (the national
    flows first, then the states'), each request after ``settings.pacing_s``. ``flows``
    defaults to ``settings.flows``.
    """
    base_url, api_key = census_credentials(settings)
    started = time.monotonic()
    streams = [flow for flow in settings.flows if flows is None or flow in flows]
    with CensusClient(base_url, api_key, pacing_s=settings.pacing_s, timeout_s=settings.timeout_s) as client:
        run = _Run(settings, months, run_id, client, HeavyBudget(), threading.Event())
        with ThreadPoolExecutor(max_workers=max(1, min(settings.concurrency, len(streams)))) as pool:
            futures = [pool.submit(_extract_flow, run, flow) for flow in streams]
            outcomes = [outcome for future in futures for outcome in future.result()]
    return _summarize(outcomes, started)


@dataclass(frozen=True)
class _Run:
    """What the streams of one extraction share (the client, the budget and the event are thread-safe)."""

    settings: Settings
    months: list[str]
    run_id: str | None
    client: CensusClient
    budget: HeavyBudget
    key_rejected: threading.Event  # a bad key fails every request: stop at the first


@dataclass(frozen=True)
class _MonthOutcome:
    """What became of one flow-month: landed (with its cost), failed, or not released yet."""

    flow: str
    month: str
    cost: dict | None = None
    failure: MonthFailure | None = None
    unreleased: bool = False


@dataclass(frozen=True)
class _Fetched:
    """A flow-month's responses, landed under one extraction id."""

    detail: DetailExtraction
    others: list[Response]  # the totals and, from HS4 down, the HS4 totals
    files: list[LandedFile]
    extraction_id: str


def _extract_flow(run: _Run, flow: str) -> list[_MonthOutcome]:
    """One flow's stream: its months in order, each starting from what the last one taught."""
    memory = _starting_memory(run, flow)
    outcomes = []
    began, total = time.monotonic(), len(run.months)
    for done, month in enumerate(run.months, start=1):
        outcome, memory = _extract_month(run, flow, month, memory)
        outcomes.append(outcome)
        if total > 1:  # a long backfill shows how far each stream is, and about how long it needs
            left = time_left(done, total, time.monotonic() - began)
            log.info("extract %s: %d/%d months%s", flow, done, total, f"; {left}" if left else "")
    return outcomes


def _starting_memory(run: _Run, flow: str) -> SizeMemory | None:
    """The size memory of the landing zone's extraction nearest to the run's first month."""
    if not run.months:
        return None
    remembered = nearest_extraction(run.settings.landing_dir, flow, run.settings.level_for(flow), run.months[0])
    memory = SizeMemory.from_record(remembered) if remembered else None
    if remembered and memory is None:
        log.warning(
            "the landing zone's last extraction record for %s holds no usable size memory: starting without it",
            flow,
        )
    return memory


def _extract_month(
    run: _Run, flow: str, month: str, memory: SizeMemory | None
) -> tuple[_MonthOutcome, SizeMemory | None]:
    """Fetch and land one flow-month; returns its outcome and the memory the next month starts from."""
    if run.key_rejected.is_set():
        reason = "not requested: the API rejected the key (see the first failure)"
        failure = MonthFailure(flow, month, "extract", transient=False, consequence=True, reason=reason)
        return _MonthOutcome(flow, month, failure=failure), memory
    level = run.settings.level_for(flow)
    earlier = latest_extraction(run.settings.landing_dir, flow, level, month) if run.run_id else None
    if earlier and earlier.get("run_id") == run.run_id:
        # landed by an earlier try of this run (the task was retried): not fetched again
        log.info("%s %s already landed by this run (an earlier try): not fetched again", flow, month)
        reused = {"flow": flow, "month": month, "requests": 0, "bytes": 0, "reused": True}
        cost = {k: earlier.get(k, 0) for k in COST_FIELDS} | reused
        return _MonthOutcome(flow, month, cost=cost), SizeMemory.from_record(earlier) or memory
    started = time.monotonic()
    try:
        fetched = _fetch_and_land(run, flow, month, memory)
    except CensusError as error:
        if isinstance(error, CensusAuthError):
            run.key_rejected.set()
        failure = MonthFailure(flow, month, "extract", transient=error.transient, reason=str(error))
        return _MonthOutcome(flow, month, failure=failure), memory
    except Exception as error:  # e.g. a full disk: this month fails, the others go on
        reason = f"{error.__class__.__name__}: {error}"
        failure = MonthFailure(flow, month, "extract", transient=False, reason=reason)
        return _MonthOutcome(flow, month, failure=failure), memory
    if fetched is None:  # the totals answered 204: the month is not released
        return _MonthOutcome(flow, month, unreleased=True), memory
    memory = fetched.detail.memory(memory)
    cost = _record(run, flow, month, fetched, memory, started)
    return _MonthOutcome(flow, month, cost=cost), memory


def _fetch_and_land(run: _Run, flow: str, month: str, memory: SizeMemory | None) -> _Fetched | None:
    """The totals first (a 204 means not released, and no split is spent on it), the detail, the HS4 totals.

    A state flow's totals are per state; it has no HS4 world totals (the national flow has them).
    """
    client, level = run.client, run.settings.level_for(flow)
    totals = client.fetch_totals(flow, month)
    if totals.status == 204:
        return None
    detail = extract_detail(client, flow, month, level, memory, run.budget)
    with_hs4 = hs_level_digits(level) >= 4 and flow not in STATE_FLOWS
    hs4 = client.fetch_hs4_totals(flow, month) if with_hs4 else None
    extraction_id = str(uuid.uuid4())
    others = [r for r in (totals, hs4) if r is not None]
    files = [
        land_response(run.settings.landing_dir, level, month, r, extraction_id) for r in [*detail.responses, *others]
    ]
    return _Fetched(detail, others, [f for f in files if f], extraction_id)


def _record(run: _Run, flow: str, month: str, fetched: _Fetched, memory: SizeMemory, started: float) -> dict:
    """Write the month's extraction record (cost, parts, size memory) after all its files landed."""
    detail = fetched.detail
    cost = {
        "flow": flow,
        "month": month,
        "mode": detail.mode,
        "parts": len(detail.parts),
        "detail_requests": detail.requests,
        "failed": detail.failed,
        "requests": detail.requests + sum(r.attempts for r in fetched.others),
        "rows": sum(r.row_count for r in detail.responses),
        "bytes": sum(f.bytes for f in fetched.files),
        "seconds": round(time.monotonic() - started, 2),
    }
    level = run.settings.level_for(flow)
    record = {
        "extraction_id": fetched.extraction_id,
        "run_id": run.run_id,
        "hs_level": level,
        "extracted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **cost,
        "part_names": detail.parts,
        "failed_requests": [{"part": o.part, "error": o.error} for o in detail.outcomes if o.error],
        **memory.to_record(),
    }
    record_extraction(run.settings.landing_dir, flow, level, month, record)
    log.info(
        "extracted %s %s: %s, %d detail requests (%d failed), %d parts, %d rows, %.1fs",
        flow,
        month,
        detail.mode,
        detail.requests,
        detail.failed,
        len(detail.parts),
        cost["rows"],
        cost["seconds"],
    )
    return cost


def _summarize(outcomes: list[_MonthOutcome], started: float) -> ExtractResult:
    """The run's result from every flow-month's outcome (landed months and costs by month, then flow)."""
    landed = [o for o in outcomes if o.cost is not None]
    landed.sort(key=lambda o: (o.month, o.flow))
    costs = [o.cost for o in landed if o.cost is not None]
    summary = ExtractResult(
        landed=[FlowMonth(o.flow, o.month) for o in landed],
        unreleased=sorted(f"{o.flow} {o.month}" for o in outcomes if o.unreleased),
        failures=[o.failure for o in outcomes if o.failure is not None],
        costs=costs,
        bytes=sum(c["bytes"] for c in costs),
        requests=sum(c["requests"] for c in costs),
        seconds=round(time.monotonic() - started, 1),
    )
    log.info(
        "extracted %d flow-months (%d bytes, %d requests) in %ss; %d unreleased, %d failed",
        len(summary.landed),
        summary.bytes,
        summary.requests,
        summary.seconds,
        len(summary.unreleased),
        len(summary.failures),
    )
    return summary


def landed_targets(settings: Settings, months: list[str], flows: tuple[str, ...] | None = None) -> ExtractResult:
    """What a reload from the landing zone loads (no API calls): the months with landed files.

    A national month with nothing landed is a failure; a state month with nothing landed is
    left out (logged): landing zones from before the state endpoints were extracted have none.
    """
    result = ExtractResult(from_landing=True)
    reason = "nothing landed for this month; run without from_landing first"
    for month in months:
        for flow in settings.flows if flows is None else flows:
            if latest_landed(settings.landing_dir, flow, settings.level_for(flow), month):
                result.landed.append(FlowMonth(flow, month))
            elif flow in STATE_FLOWS:
                log.info("%s %s: nothing landed at %s; not reloaded", flow, month, settings.level_for(flow))
            else:
                result.failures.append(MonthFailure(flow, month, "extract", transient=False, reason=reason))
    return result
