"""Load landed Comtrade years through the GX gate into ``raw.comtrade_monthly``.

Per year: DuckDB's JSON reader stages the landed files (no Python rows), the staged rows
are checked against the manifest and against what is loaded, validated by the
``comtrade_monthly`` suite, and swapped in one transaction with the year's row in
``audit.comtrade_loads``. A year whose files (or rows) equal the loaded version's is kept;
a year that fails keeps its previous version. Results are the typed ``LoadResult``.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

import duckdb

from trade_warehouse.core.config import ComtradeSettings, Settings
from trade_warehouse.core.results import FailedExpectation, LoadResult, MonthFailure, MonthLoad
from trade_warehouse.load import gate, warehouse
from trade_warehouse.load.audit import CURRENT_COMTRADE_LOADS
from trade_warehouse.sources.comtrade.landing import landed_files, landed_fingerprint, mark_loaded
from trade_warehouse.sources.comtrade.staging import check_staged, stage_sql
from trade_warehouse.sources.comtrade.years import FLOW, period, year_failure

log = logging.getLogger(__name__)

SUITE = "comtrade_monthly"
AUDIT_TABLE = "audit.comtrade_loads"


def load_and_validate(
    settings: Settings, comtrade: ComtradeSettings, years: list[int], run_id: str, force: bool = False
) -> LoadResult:
    """Load each landed year; ``force`` replaces a year even if its data did not change."""
    result = LoadResult()
    with warehouse.open_writer(settings) as con:
        for year in years:
            try:
                outcome = load_year(con, settings, comtrade, year, run_id, force)
            except Exception as error:  # an unreadable manifest: this year fails, the others go on
                outcome = year_failure(year, "load", f"{error.__class__.__name__}: {error}")
            if isinstance(outcome, MonthFailure):
                result.failures.append(outcome)
                log.info("comtrade load %d: failed at %s: %s", year, outcome.stage, outcome.reason)
            else:
                (result.loaded if outcome.status == "loaded" else result.unchanged).append(outcome)
                log.info("comtrade load %d: %s", year, outcome.status)
    return result


def current_year_load(con: duckdb.DuckDBPyConnection, year: int) -> tuple[str, str | None, str | None] | None:
    """The load of ``year`` the raw table holds now: (load_id, content_sha256, data_sha256)."""
    return con.execute(
        f"select load_id, content_sha256, data_sha256 from ({CURRENT_COMTRADE_LOADS}) where year = ?", [year]
    ).fetchone()


def load_year(
    con: duckdb.DuckDBPyConnection, settings: Settings, comtrade: ComtradeSettings, year: int, run_id: str, force: bool
) -> MonthLoad | MonthFailure:
    """One year: kept if unchanged, else staged, validated and swapped in."""
    files = landed_files(settings, year)
    if not files:
        return year_failure(year, "load", "nothing landed for this year")
    if sum(f["row_count"] for f in files) == 0:
        log.info("comtrade load %d: no partner has reported a month of this year yet", year)
        return MonthLoad(FLOW, period(year), "unchanged", rows=0)
    fingerprint = landed_fingerprint(files)
    current = current_year_load(con, year)
    if current and current[1] == fingerprint and not force:
        mark_loaded(settings, year, fingerprint, current[0])
        return MonthLoad(FLOW, period(year), "unchanged", load_id=current[0])
    load_id = str(uuid.uuid4())
    source = "comtrade-emulator" if any(f["source"] == "comtrade-emulator" for f in files) else "comtrade"
    audit = {
        "load_id": load_id,
        "run_id": run_id,
        "year": year,
        "reporters": ",".join(comtrade.reporters),
        "source": source,
        "content_sha256": fingerprint,
        "files": warehouse.as_json([{"path": f["path"], "sha256": f["sha256"]} for f in files]),
        "started_at": datetime.now(UTC).replace(tzinfo=None),
    }
    table = f"stage_comtrade_{load_id.replace('-', '')[:12]}"
    try:
        con.execute(f"create or replace temp table {table} as {stage_sql(files, load_id, source)}")
        check_staged(con, table, files, year, force)
        data_sha256 = warehouse.data_fingerprint(con, {"data": table})
        if current and current[2] == data_sha256 and not force:
            # new bytes (every answer carries its own elapsedTime), same rows: nothing to reload
            mark_loaded(settings, year, fingerprint, current[0])
            return MonthLoad(FLOW, period(year), "unchanged", load_id=current[0])
        return validate_and_swap(con, settings, comtrade, table, audit, data_sha256)
    except Exception as error:
        message = f"{error.__class__.__name__}: {error}"
        finished = datetime.now(UTC).replace(tzinfo=None)
        warehouse.insert_row(con, AUDIT_TABLE, {**audit, "status": "failed", "error": message, "finished_at": finished})
        return year_failure(year, "load", message)
    finally:
        con.execute(f"drop table if exists {table}")


def validate_and_swap(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    comtrade: ComtradeSettings,
    table: str,
    audit: dict,
    data_sha256: str,
) -> MonthLoad | MonthFailure:
    """Run the gate on the staged year; replace the loaded year only if it passed.

    ``audit`` (the year's row for ``audit.comtrade_loads``) is completed in place: a swap that
    fails is then audited with the rows and fingerprint it tried to load.
    """
    year = audit["year"]
    result, rows = validate(con, settings, comtrade, table, audit)
    finished = datetime.now(UTC).replace(tzinfo=None)
    duration_s = (finished - audit["started_at"]).total_seconds()
    audit.update(rows=rows, data_sha256=data_sha256, finished_at=finished, duration_s=duration_s)
    if not result.success:
        warehouse.insert_row(con, AUDIT_TABLE, {**audit, "status": "failed_validation", "error": result.summary()})
        return year_failure(
            year,
            "validate",
            f"suite {result.suite}: {len(result.failed)} of {result.evaluated} expectations failed",
            expectations=[FailedExpectation.from_gx(result.suite, f) for f in result.failed],
        )

    def swap() -> None:
        with warehouse.transaction(con):
            con.execute("delete from raw.comtrade_monthly where year = ?", [year])
            con.execute(f"insert into raw.comtrade_monthly by name select * from {table}")
            warehouse.insert_row(con, AUDIT_TABLE, {**audit, "status": "loaded"})

    warehouse.retry_on_conflict(swap, f"the swap of Comtrade {year}")
    mark_loaded(settings, year, audit["content_sha256"], audit["load_id"])
    return MonthLoad(FLOW, period(year), "loaded", load_id=audit["load_id"], rows=rows)


def validate(
    con: duckdb.DuckDBPyConnection, settings: Settings, comtrade: ComtradeSettings, table: str, audit: dict
) -> tuple[gate.SuiteResult, int]:
    """The ``comtrade_monthly`` suite on the staged year, saved and audited; (result, rows)."""
    year, load_id, run_id = audit["year"], audit["load_id"], audit["run_id"]
    frame = con.execute(f"""
        select reporter_code, flow_code, partner_code, partner2_code, cmd_code, customs_code, mot_code,
               strftime(month, '%Y-%m') as month_label, primary_value_usd,
               case flow_code when 'M' then cif_value_usd when 'X' then fob_value_usd end as declared_value_usd
        from {table}""").df()
    months = [f"{year:04d}-{m:02d}" for m in range(1, 13)]
    result = gate.run_suite(SUITE, frame, {"reporters": list(comtrade.reporters), "months": months})
    gate.save_result(settings.gx_results_dir, run_id, "comtrade", f"{year}-all", result)
    warehouse.insert_validation_audit(
        con,
        {
            "load_id": load_id,
            "run_id": run_id,
            "flow": "comtrade",
            "hs_level": "TOTAL",
            "month": f"{year}-01-01",
            "suite": result.suite,
            "success": result.success,
            "evaluated": result.evaluated,
            "failed": len(result.failed),
            "failed_expectations": ", ".join(f["expectation"] for f in result.failed),
            "details": warehouse.as_json(result.failed),
        },
    )
    return result, len(frame)
