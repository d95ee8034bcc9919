"""The stages of one pipeline run, as plain functions the Airflow tasks call.

Each stage takes the settings and small arguments and returns a typed result
(``trade_warehouse.core.results``; its serialized form becomes XCom): the bulk data move
through landed files and DuckDB, never through XCom or Python rows. A month that fails
in one stage becomes a :class:`~trade_warehouse.core.results.MonthFailure` and is skipped by
the next stages; the other months go on (see :func:`raise_for_failures`).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from trade_warehouse.core.config import FLOWS, Settings
from trade_warehouse.core.credentials import api_credentials
from trade_warehouse.core.months import month_range, parse_month
from trade_warehouse.core.results import (
    ExtractResult,
    FailedExpectation,
    FlowMonth,
    LoadResult,
    MonthFailure,
    MonthLoad,
)
from trade_warehouse.load.landing import (
    land_response,
    latest_extraction,
    latest_landed,
    nearest_extraction,
    record_extraction,
)
from trade_warehouse.sources.census.api import CensusAuthError, CensusError
from trade_warehouse.sources.census.client import CensusClient

if TYPE_CHECKING:  # the warehouse module (DuckDB) is imported inside the stages, not at DAG parse
    from trade_warehouse.load.warehouse import StagedMonth

log = logging.getLogger(__name__)
COST_FIELDS = ("mode", "parts", "detail_requests", "failed", "rows", "bytes", "seconds")


def resolve_window(params: dict) -> list[str]:
    """The months a run covers, from the run's params (``month`` or ``start_month``/``end_month``)."""
    month = params.get("month")
    if month:
        parse_month(month, "month")
        return [month]
    start, end = params.get("start_month"), params.get("end_month")
    if not start or not end:
        raise ValueError("give either month=YYYY-MM or both start_month and end_month (YYYY-MM)")
    return month_range(start, end)


def plan_run(nightly: bool, params: dict, logical_date: datetime | None) -> dict:
    """The months a DAG run loads: the nightly release check, params, or the run's logical date.

    Params are checked strictly (a bad or unreleased month fails the run at once). A
    scheduled or backfill run of the monthly DAG stands for the month of its logical
    date; if that month is not released yet, the run has nothing to do.
    """
    from trade_warehouse.core.config import load_settings
    from trade_warehouse.sources.census import release

    settings = load_settings()
    base_url, api_key = census_credentials(settings)
    explicit = any(params.get(k) for k in ("month", "start_month", "end_month"))
    with CensusClient(base_url, api_key, timeout_s=settings.timeout_s) as client:
        if nightly:
            planned = release.plan_nightly(settings, client)
        elif explicit:
            months = resolve_window(params)
            if not params.get("from_landing"):
                release.check_requested_window(months, client)
            planned = {"months": months, "new": months, "revision": [], "reason": "requested by params"}
        elif logical_date is not None:
            month = f"{logical_date.year:04d}-{logical_date.month:02d}"
            if month >= release.this_month() or not release.is_released(client, month):
                planned = {"months": [], "new": [], "revision": [], "reason": f"{month} is not released yet"}
            else:
                planned = {
                    "months": [month],
                    "new": [month],
                    "revision": [],
                    "reason": f"the month of the run's logical date ({month})",
                }
        else:
            raise ValueError(
                "this run has no month: trigger it with params month=YYYY-MM, or start_month and "
                "end_month (a scheduled or backfill run takes the month of its data interval)"
            )
    log.info("plan: %s", planned["reason"])
    return planned


def census_credentials(settings: Settings) -> tuple[str, str | None]:
    """Base URL and key: the Airflow connection ``census_api`` wins over the environment."""
    return api_credentials("census_api", settings.base_url, settings.api_key)


def extract(
    settings: Settings, months: list[str], flows: tuple[str, ...] = FLOWS, run_id: str | None = None
) -> ExtractResult:
    """Fetch and land every flow x month; failures are collected per month, not raised.

    Each flow is one stream that takes its months in order, so a month starts from what
    the previous month of the same flow taught about request sizes (see
    ``split_extraction``); the two flows run side by side (``settings.concurrency``
    streams at most), each request after ``settings.pacing_s``.
    """
    from trade_warehouse.core.config import hs_level_digits
    from trade_warehouse.sources.census import split

    base_url, api_key = census_credentials(settings)
    landed: list[FlowMonth] = []
    costs: list[dict] = []
    failures: list[MonthFailure] = []
    unreleased: list[str] = []
    started = time.monotonic()
    key_rejected = threading.Event()  # a bad key fails every request: stop at the first
    budget = split.HeavyBudget()
    level = settings.hs_level
    with CensusClient(base_url, api_key, pacing_s=settings.pacing_s, timeout_s=settings.timeout_s) as client:

        def stream(flow: str) -> None:
            remembered = nearest_extraction(settings.landing_dir, flow, level, months[0]) if months else None
            memory = split.SizeMemory.from_record(remembered) if remembered else None
            if remembered and memory is None:
                log.warning(
                    "the landing zone's last extraction record for %s holds no usable size memory: starting without it",
                    flow,
                )
            for month in months:
                if key_rejected.is_set():
                    failures.append(
                        MonthFailure(
                            flow,
                            month,
                            "extract",
                            transient=False,
                            consequence=True,
                            reason="not requested: the API rejected the key (see the first failure)",
                        )
                    )
                    continue
                earlier = latest_extraction(settings.landing_dir, flow, level, month) if run_id else None
                if earlier and earlier.get("run_id") == run_id:
                    # landed by an earlier try of this run (the task was retried): not fetched again
                    log.info("%s %s already landed by this run (an earlier try): not fetched again", flow, month)
                    memory = split.SizeMemory.from_record(earlier) or memory
                    landed.append(FlowMonth(flow, month))
                    costs.append(
                        {k: earlier.get(k, 0) for k in COST_FIELDS}
                        | {"flow": flow, "month": month, "requests": 0, "bytes": 0, "reused": True}
                    )
                    continue
                month_started = time.monotonic()
                try:
                    # the totals first: a 204 means the month is not released, and no split is spent on it
                    totals = client.fetch_totals(flow, month)
                    if totals.status == 204:
                        unreleased.append(f"{flow} {month}")
                        continue
                    detail = split.extract_detail(client, flow, month, level, memory, budget)
                    hs4 = client.fetch_hs4_totals(flow, month) if hs_level_digits(level) >= 4 else None
                    extraction_id = str(uuid.uuid4())
                    others = [r for r in (totals, hs4) if r is not None]
                    files = [
                        land_response(settings.landing_dir, level, month, r, extraction_id)
                        for r in [*detail.responses, *others]
                    ]
                except CensusError as error:
                    if isinstance(error, CensusAuthError):
                        key_rejected.set()
                    failures.append(MonthFailure(flow, month, "extract", transient=error.transient, reason=str(error)))
                    continue
                except Exception as error:  # e.g. a full disk: this month fails, the others go on
                    failures.append(
                        MonthFailure(
                            flow, month, "extract", transient=False, reason=f"{error.__class__.__name__}: {error}"
                        )
                    )
                    continue
                files = [f for f in files if f]
                memory = detail.memory(memory)
                cost = {
                    "flow": flow,
                    "month": month,
                    "mode": detail.mode,
                    "parts": len(detail.parts),
                    "detail_requests": detail.requests,
                    "failed": detail.failed,
                    "requests": detail.requests + sum(r.attempts for r in others),
                    "rows": sum(r.row_count for r in detail.responses),
                    "bytes": sum(f.bytes for f in files),
                    "seconds": round(time.monotonic() - month_started, 2),
                }
                record_extraction(
                    settings.landing_dir,
                    flow,
                    level,
                    month,
                    {
                        "extraction_id": extraction_id,
                        "run_id": run_id,
                        "hs_level": level,
                        "extracted_at": datetime.now(UTC).isoformat(timespec="seconds"),
                        **cost,
                        "part_names": detail.parts,
                        "failed_requests": [{"part": o.part, "error": o.error} for o in detail.outcomes if o.error],
                        **memory.to_record(),
                    },
                )
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
                landed.append(FlowMonth(flow, month))
                costs.append(cost)

        streams = [flow for flow in FLOWS if flow in flows]
        with ThreadPoolExecutor(max_workers=max(1, min(settings.concurrency, len(streams)))) as pool:
            list(pool.map(stream, streams))
    landed.sort(key=lambda item: (item.month, item.flow))
    costs.sort(key=lambda item: (item["month"], item["flow"]))
    summary = ExtractResult(
        landed=landed,
        unreleased=sorted(unreleased),
        failures=failures,
        costs=costs,
        bytes=sum(c["bytes"] for c in costs),
        requests=sum(c["requests"] for c in costs),
        seconds=round(time.monotonic() - started, 1),
    )
    log.info(
        "extracted %d flow-months (%d bytes, %d requests) in %ss; %d unreleased, %d failed",
        len(landed),
        summary.bytes,
        summary.requests,
        summary.seconds,
        len(unreleased),
        len(failures),
    )
    return summary


VALIDATION_BATCH = 6  # months of one flow staged at once and validated in one GX run per suite


@dataclass
class _Staged:
    """A flow-month read into temp tables, waiting for its batch's validation."""

    staged: StagedMonth
    audit: dict  # the audit.loads row so far
    trailing: list[int]
    started: float


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


def load_and_validate(settings: Settings, targets: list[FlowMonth], run_id: str, force: bool = False) -> LoadResult:
    """Load each landed flow-month through the GX gate into the raw tables.

    A month whose landed content equals the loaded version is skipped (unless ``force``);
    a month that fails validation keeps its previous version and is reported. Months of a
    flow are staged a few at a time and validated together (``gate.validate_months``),
    each still passing or failing on its own; each passing month is swapped in in its own
    transaction.
    """
    from trade_warehouse.load import gate, warehouse

    if targets:
        gate.warm_up()  # GX's import overlaps the reading of the first months
    result = LoadResult()
    done = 0

    def record(target: FlowMonth, outcome: MonthLoad | MonthFailure, started: float) -> None:
        nonlocal done
        done += 1
        if isinstance(outcome, MonthFailure):
            result.failures.append(outcome)
        else:
            (result.loaded if outcome.status == "loaded" else result.unchanged).append(outcome)
        # one line per flow-month with a running count: a long backfill shows its progress
        status = outcome.stage + " failed" if isinstance(outcome, MonthFailure) else outcome.status
        rows = getattr(outcome, "rows", None)
        log.info(
            "load %d/%d %s %s: %s, %s rows, %.1fs (so far: %d loaded, %d unchanged, %d failed)",
            done,
            len(targets),
            target.flow,
            target.month,
            status,
            "-" if rows is None else rows,
            time.monotonic() - started,
            len(result.loaded),
            len(result.unchanged),
            len(result.failures),
        )

    with warehouse.connect(settings.warehouse_path) as con:
        for batch in _batches(targets):
            pending: list[_Staged] = []
            try:
                for target in batch:
                    started = time.monotonic()
                    try:
                        outcome = _prepare(con, settings, target, run_id, force, pending)
                    except Exception as error:  # an unreadable manifest or record: this month fails, the others go on
                        outcome = MonthFailure(
                            target.flow,
                            target.month,
                            "load",
                            transient=False,
                            reason=f"{error.__class__.__name__}: {error}",
                        )
                    if isinstance(outcome, _Staged):
                        pending.append(outcome)
                    else:
                        record(target, outcome, started)
                if pending:
                    for item, outcome in _validate_and_swap(con, settings, pending, run_id):
                        record(FlowMonth(item.staged.flow, item.staged.month), outcome, item.started)
            finally:
                for item in pending:
                    warehouse.drop_stage(con, item.staged)
    return result


def _prepare(
    con, settings: Settings, target: FlowMonth, run_id: str, force: bool, pending: list[_Staged]
) -> _Staged | MonthLoad | MonthFailure:
    """Stage one landed flow-month, unless its files, or its rows, equal the loaded version."""
    from trade_warehouse.load import warehouse

    flow, month = target.flow, target.month
    files = latest_landed(settings.landing_dir, flow, settings.hs_level, month)
    if not files or not any(f.kind == "detail" for f in files) or not any(f.kind == "totals" for f in files):
        return MonthFailure(
            flow,
            month,
            "load",
            transient=False,
            reason="no complete landed extraction (detail and totals) for this month",
        )
    fingerprint = warehouse.content_fingerprint(files)
    current = None if force else warehouse.current_load(con, flow, settings.hs_level, month)
    if current and current.content_sha256 == fingerprint:
        _record_unchanged(
            con, settings, run_id, flow, month, fingerprint, current, "landed files identical to those of load"
        )
        return MonthLoad(flow, month, "unchanged", load_id=current.load_id)
    load_id = str(uuid.uuid4())
    first = files[0]
    audit = {
        "load_id": load_id,
        "run_id": run_id,
        "flow": flow,
        "hs_level": first.hs_level,
        "month": f"{month}-01",
        "content_sha256": fingerprint,
        "files": warehouse.as_json([{"path": f.path, "sha256": f.sha256, "part": f.part} for f in files]),
        "started_at": datetime.now(UTC).replace(tzinfo=None),
    }
    started = time.monotonic()
    try:
        staged = warehouse.stage_month(con, files, load_id)
    except Exception as error:  # recorded, reported, and the other months go on
        return _failed_load(con, audit, error)
    if current is not None and current.data_sha256 == staged.data_sha256:
        # other files (e.g. fetched in parts, not whole) but the same rows: nothing to reload
        warehouse.drop_stage(con, staged)
        _record_unchanged(
            con,
            settings,
            run_id,
            flow,
            month,
            fingerprint,
            current,
            "landed data (other files, same rows) identical to load",
            staged.data_sha256,
        )
        return MonthLoad(flow, month, "unchanged", load_id=current.load_id)
    # the row-count band: the loaded months before this one, and the months staged before it
    # in this batch (a backfill into an empty warehouse still compares each month with the last)
    earlier = {p.staged.month: p.staged.detail_rows for p in pending}
    trailing = warehouse.trailing_row_counts(con, flow, first.hs_level, month, pending=earlier)
    return _Staged(staged, audit, trailing, started)


def _record_unchanged(
    con,
    settings: Settings,
    run_id: str,
    flow: str,
    month: str,
    fingerprint: str,
    current,
    why: str,
    data_sha256: str | None = None,
) -> None:
    """An `unchanged` audit row: this attempt found the loaded version's data again and kept it."""
    from trade_warehouse.load import warehouse

    now = datetime.now(UTC).replace(tzinfo=None)
    warehouse.insert_load_audit(
        con,
        {
            "load_id": str(uuid.uuid4()),
            "run_id": run_id,
            "flow": flow,
            "hs_level": settings.hs_level,
            "month": f"{month}-01",
            "content_sha256": fingerprint,
            "data_sha256": data_sha256 or current.data_sha256,
            "status": "unchanged",
            "error": f"{why} {current.load_id}; kept it",
            "started_at": now,
            "finished_at": now,
            "duration_s": 0.0,
        },
    )


def _failed_load(con, audit: dict, error: BaseException) -> MonthFailure:
    """Record a load that raised (audit status ``failed``) and report it."""
    from trade_warehouse.load import warehouse

    finished = datetime.now(UTC).replace(tzinfo=None)
    message = f"{error.__class__.__name__}: {error}"
    warehouse.insert_load_audit(
        con,
        {
            **audit,
            "status": "failed",
            "error": message,
            "finished_at": finished,
            "duration_s": (finished - audit["started_at"]).total_seconds(),
        },
    )
    return MonthFailure(audit["flow"], audit["month"][:7], "load", transient=False, reason=message)


def _validate_and_swap(
    con, settings: Settings, pending: list[_Staged], run_id: str
) -> list[tuple[_Staged, MonthLoad | MonthFailure]]:
    """Validate a batch of staged months of one flow; swap in each month that passed."""
    from trade_warehouse.load import gate, warehouse

    try:
        outcomes, batch = gate.validate_months(con, [(p.staged, p.trailing) for p in pending])
    except Exception as error:  # the gate itself broke: no month of the batch is loaded
        return [(p, _failed_load(con, p.audit, error)) for p in pending]
    flow = pending[0].staged.flow
    label = pending[0].staged.month if len(pending) == 1 else f"{pending[0].staged.month}..{pending[-1].staged.month}"
    for suite in batch:
        gate.save_result(settings.gx_results_dir, run_id, flow, label, suite)
    results = []
    for item in pending:
        staged, audit = item.staged, item.audit
        outcome = outcomes[staged.month]
        try:
            for suite in outcome.results:
                warehouse.insert_validation_audit(
                    con,
                    {
                        "load_id": audit["load_id"],
                        "run_id": run_id,
                        "flow": staged.flow,
                        "hs_level": staged.hs_level,
                        "month": audit["month"],
                        "suite": suite.suite,
                        "success": suite.success,
                        "evaluated": suite.evaluated,
                        "failed": len(suite.failed),
                        "failed_expectations": ", ".join(f["expectation"] for f in suite.failed),
                        "details": warehouse.as_json(suite.failed),
                    },
                )
            finished = datetime.now(UTC).replace(tzinfo=None)
            row = {
                **audit,
                "source": staged.source,
                "detail_rows": staged.detail_rows,
                "totals_rows": staged.totals_rows,
                "data_sha256": staged.data_sha256,
                "finished_at": finished,
                "duration_s": (finished - audit["started_at"]).total_seconds(),
            }
            if outcome.success:
                warehouse.replace_month(con, staged, {**row, "status": "loaded"})
                results.append(
                    (
                        item,
                        MonthLoad(
                            staged.flow, staged.month, "loaded", load_id=audit["load_id"], rows=staged.detail_rows
                        ),
                    )
                )
                continue
            warehouse.insert_load_audit(con, {**row, "status": "failed_validation", "error": outcome.summary()})
            failed_suites = [r for r in outcome.results if not r.success]
            expectations = tuple(FailedExpectation.from_gx(r.suite, f) for r in failed_suites for f in r.failed)
            reason = "; ".join(
                f"suite {r.suite}: {len(r.failed)} of {r.evaluated} expectations failed" for r in failed_suites
            )
            results.append(
                (
                    item,
                    MonthFailure(
                        staged.flow, staged.month, "validate", transient=False, reason=reason, expectations=expectations
                    ),
                )
            )
        except Exception as error:  # recorded, reported, and the other months go on
            results.append((item, _failed_load(con, audit, error)))
    return results


def landed_targets(settings: Settings, months: list[str], flows: tuple[str, ...] = FLOWS) -> ExtractResult:
    """What a reload from the landing zone loads (no API calls): the months with landed files."""
    result = ExtractResult(from_landing=True)
    for month in months:
        for flow in flows:
            if latest_landed(settings.landing_dir, flow, settings.hs_level, month):
                result.landed.append(FlowMonth(flow, month))
            else:
                result.failures.append(
                    MonthFailure(
                        flow,
                        month,
                        "extract",
                        transient=False,
                        reason="nothing landed for this month; run without from_landing first",
                    )
                )
    return result
