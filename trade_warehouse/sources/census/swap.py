"""Validate staged Census months and swap each one that passed in for the loaded version.

The "audit" and "publish" of write-audit-publish for the raw tables: a batch of staged
months of one flow goes through the gate together (``checks.validate_months``), then each
month is settled on its own: its suite results are recorded, and it either replaces the
loaded version (raw tables, vintage history and audit row in one transaction) or keeps
the old one and is reported with its failed expectations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from trade_warehouse.core.config import Settings
from trade_warehouse.core.results import FailedExpectation, MonthFailure, MonthLoad
from trade_warehouse.load import gate
from trade_warehouse.load.warehouse import (
    as_json,
    insert_load_audit,
    insert_validation_audit,
    retry_on_conflict,
    transaction,
)
from trade_warehouse.sources.census.api import VALUE_COLUMNS, is_state_flow
from trade_warehouse.sources.census.checks import MonthValidation, validate_months
from trade_warehouse.sources.census.history import record_version
from trade_warehouse.sources.census.reader import StagedMonth, raw_kinds, raw_table
from trade_warehouse.sources.census.state_checks import validate_state_months


@dataclass
class PendingMonth:
    """A flow-month read into temp tables, waiting for its batch's validation."""

    staged: StagedMonth
    audit: dict  # the audit.loads row so far
    trailing: list[int]  # detail rows of the months before it (the row-count band)
    started: float  # time.monotonic() when its load began


Outcome = MonthLoad | MonthFailure


def validate_and_swap(
    con: duckdb.DuckDBPyConnection, settings: Settings, pending: list[PendingMonth], run_id: str
) -> list[tuple[PendingMonth, Outcome]]:
    """Validate a batch of staged months of one flow; swap in each month that passed."""
    # a state month is checked on its own and against the national month loaded before it
    staged_months = [(p.staged, p.trailing) for p in pending]
    try:
        if is_state_flow(pending[0].staged.flow):
            outcomes, batch = validate_state_months(con, staged_months, settings.hs_level)
        else:
            outcomes, batch = validate_months(con, staged_months)
    except Exception as error:  # the gate itself broke: no month of the batch is loaded
        return [(p, failed_load(con, p.audit, error)) for p in pending]
    first, last = pending[0].staged, pending[-1].staged
    label = first.month if len(pending) == 1 else f"{first.month}..{last.month}"
    for suite in batch:
        gate.save_result(settings.gx_results_dir, run_id, first.flow, label, suite)
    results: list[tuple[PendingMonth, Outcome]] = []
    for item in pending:
        try:
            results.append((item, _settle(con, item, outcomes[item.staged.month], run_id)))
        except Exception as error:  # recorded, reported, and the other months go on
            results.append((item, failed_load(con, item.audit, error)))
    return results


def _settle(con: duckdb.DuckDBPyConnection, item: PendingMonth, outcome: MonthValidation, run_id: str) -> Outcome:
    """Record one month's suite results, then load it (it passed) or report its failures."""
    staged, audit = item.staged, item.audit
    for suite in outcome.results:
        insert_validation_audit(
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
                "details": as_json(suite.failed),
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
        replace_month(con, staged, {**row, "status": "loaded"})
        return MonthLoad(staged.flow, staged.month, "loaded", load_id=audit["load_id"], rows=staged.detail_rows)
    insert_load_audit(con, {**row, "status": "failed_validation", "error": outcome.summary()})
    failed_suites = [r for r in outcome.results if not r.success]
    expectations = tuple(FailedExpectation.from_gx(r.suite, f) for r in failed_suites for f in r.failed)
    reason = "; ".join(f"suite {r.suite}: {len(r.failed)} of {r.evaluated} expectations failed" for r in failed_suites)
    return MonthFailure(
        staged.flow, staged.month, "validate", transient=False, reason=reason, expectations=expectations
    )


def replace_month(con: duckdb.DuckDBPyConnection, staged: StagedMonth, audit_row: dict) -> None:
    """Swap the staged month in for the loaded one, with its audit row, in one transaction.

    Delete + insert + audit commit together: readers of the warehouse see the old version
    or the new one, never both or neither, and a crash rolls back to the old version.
    """
    retry_on_conflict(lambda: swap_once(con, staged, audit_row), f"the swap of {staged.flow} {staged.month}")


def swap_once(con: duckdb.DuckDBPyConnection, staged: StagedMonth, audit_row: dict) -> None:
    """One attempt of :func:`replace_month` (a lake writer's commit may conflict with another's)."""
    month_date = f"{staged.month}-01"
    tables = staged.tables()
    with transaction(con):
        for kind in raw_kinds(staged.flow):  # a month without HS4 totals (landed before they existed) loses stale ones
            target = raw_table(staged.flow, kind)
            con.execute(f"delete from {target} where month = ?::date and hs_level = ?", [month_date, staged.hs_level])
            if kind in tables:
                casts = ", ".join(f"cast({c} as bigint) as {c}" for c in VALUE_COLUMNS[staged.flow].values())
                con.execute(f"insert into {target} by name select * replace ({casts}) from {tables[kind]}")
        if not is_state_flow(staged.flow):  # the vintage history of the national totals
            record_version(con, staged.load_id, staged.flow, staged.hs_level, tables)
        insert_load_audit(con, audit_row)


def failed_load(con: duckdb.DuckDBPyConnection, audit: dict, error: BaseException) -> MonthFailure:
    """Record a load that raised (audit status ``failed``) and report it."""
    finished = datetime.now(UTC).replace(tzinfo=None)
    message = f"{error.__class__.__name__}: {error}"
    insert_load_audit(
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
