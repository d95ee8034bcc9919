"""Mirror statistics: the stages of a UN Comtrade run, as plain functions the DAG tasks call.

The unit of work is a calendar year: one call (12 periods, every configured reporter,
both flows) fetches a year of the partners' monthly reports with the U.S.; the answer is
landed unchanged under ``<data>/landing/comtrade/<year>/`` with a manifest, validated by
the ``comtrade_monthly`` GX suite, and swapped into ``raw.comtrade_monthly`` in one
transaction with its row in ``audit.comtrade_loads``. dbt then builds the mirror marts and
the serving snapshot is published by the same write-audit-publish step as the Census data.

Release-aware: partners report on their own calendar, months late and one by one. A year
is asked for again only while its latest extraction lacks some reporter x flow x month;
a complete year costs nothing on later nights. Only years with Census data landed are
asked for: the mirror needs the U.S. side.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from trade_warehouse.core.config import ComtradeSettings, Settings
from trade_warehouse.core.credentials import api_credentials
from trade_warehouse.core.results import FailedExpectation, MonthFailure
from trade_warehouse.load.landing import append_jsonl, read_records, write_immutable
from trade_warehouse.sources.comtrade.client import (
    ComtradeAuthError,
    ComtradeClient,
    ComtradeError,
    ComtradeRequest,
    ComtradeResponse,
)

log = logging.getLogger(__name__)

FLOWS = ("M", "X")
MANIFEST = "manifest.jsonl"
EXTRACTIONS = "extractions.jsonl"
LOADED = "loaded.json"  # which landed content of the year the warehouse holds (written after each load)
SUITE = "comtrade_monthly"
FIRST_YEAR = 2010


def landing_dir(settings: Settings) -> Path:
    return settings.data_dir / "landing" / "comtrade"


def year_dir(settings: Settings, year: int) -> Path:
    return landing_dir(settings) / f"{year:04d}"


def credentials(comtrade: ComtradeSettings) -> tuple[str, str | None]:
    """Base URL and key: the Airflow connection ``comtrade_api`` wins over the environment."""
    return api_credentials("comtrade_api", comtrade.base_url, comtrade.api_key)


def year_periods(year: int, today: date | None = None) -> tuple[str, ...]:
    """The ended months of ``year`` as Comtrade periods (YYYYMM): 12 for a past year."""
    today = today or datetime.now(UTC).date()
    last = 12 if year < today.year else today.month - 1
    return tuple(f"{year:04d}{month:02d}" for month in range(1, last + 1))


def latest_extraction(settings: Settings, year: int) -> dict | None:
    records = [r for r in read_records(year_dir(settings, year) / EXTRACTIONS) if r.get("extraction_id")]
    return records[-1] if records else None


def is_complete(record: dict | None, reporters: tuple[str, ...]) -> bool:
    """Whether an extraction holds every reporter x flow x month of its year for ``reporters``."""
    if not record or not record.get("complete"):
        return False
    return set(reporters) <= set(record.get("reporters", []))


def landed_fingerprint(files: list[dict]) -> str:
    """The content of a year's latest extraction: its files' hashes (what a load records)."""
    return hashlib.sha256("|".join(sorted(f["sha256"] for f in files)).encode()).hexdigest()


def mark_loaded(settings: Settings, year: int, fingerprint: str, load_id: str) -> None:
    """Record in the landing zone that the warehouse holds this content of ``year``.

    The planner reads the landing zone only (never the warehouse, whose writer may be busy):
    a complete year landed by a run whose load then failed has no marker, or an older one,
    and is loaded again by the next run without asking the API again.
    """
    path = year_dir(settings, year) / LOADED
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps({"content_sha256": fingerprint, "load_id": load_id}), encoding="utf-8")
    os.replace(temp, path)


def is_loaded(settings: Settings, year: int) -> bool:
    """Whether the year's latest landed content is the one the warehouse holds."""
    path = year_dir(settings, year) / LOADED
    if not path.exists():
        return False
    return json.loads(path.read_text(encoding="utf-8")).get("content_sha256") == landed_fingerprint(
        landed_files(settings, year)
    )


def census_years(settings: Settings) -> list[int]:
    """Years with Census months landed (both flows): the years a mirror can be built for."""
    from trade_warehouse.sources.census.release import landed_months

    return sorted({int(month[:4]) for month in landed_months(settings)})


def plan(settings: Settings, comtrade: ComtradeSettings, params: dict | None = None, today: date | None = None) -> dict:
    """The years a run fetches: ``year`` or ``start_year``..``end_year`` from params, else
    every year with Census data whose Comtrade extraction is not complete yet (none without
    a key: requested years are still fetched, and fail at extract saying how to get one)."""
    params = params or {}
    today = today or datetime.now(UTC).date()
    if params.get("year") or params.get("start_year") or params.get("end_year"):
        start = int(params.get("year") or params.get("start_year") or 0)
        end = int(params.get("year") or params.get("end_year") or 0)
        if not start or not end or start > end:
            raise ValueError("give year=YYYY, or both start_year and end_year with start_year <= end_year")
        if start < FIRST_YEAR or end > today.year:
            raise ValueError(f"years must lie between {FIRST_YEAR} and {today.year}, got {start}..{end}")
        years = [y for y in range(start, end + 1) if year_periods(y, today)]
        return {"years": years, "reason": "requested by params"}
    if not (comtrade.api_key or credentials(comtrade)[1]):  # the Airflow connection only when the env has none
        # an optional source: a scheduled run without a key ends green instead of alerting every day
        return {
            "years": [],
            "reason": "no UN Comtrade key (COMTRADE_API_KEY or the connection comtrade_api): "
            "mirror statistics are off; see the README to get one",
        }
    candidates = [y for y in census_years(settings) if year_periods(y, today)]
    force = bool(params.get("force"))
    fetch = [y for y in candidates if force or not is_complete(latest_extraction(settings, y), comtrade.reporters)]
    complete = sorted(set(candidates) - set(fetch))
    # complete in the landing zone but not (or not that content) in the warehouse: a failed load
    load_only = [y for y in complete if not is_loaded(settings, y)]
    reason = (
        f"incomplete or new years with Census data: {', '.join(map(str, fetch))}"
        if fetch
        else "every year with Census data is complete in the landing zone"
    )
    if load_only:
        reason += f"; landed but not loaded, loaded from the landing zone: {', '.join(map(str, load_only))}"
    if set(complete) - set(load_only):
        reason += f"; complete, not asked again: {', '.join(map(str, sorted(set(complete) - set(load_only))))}"
    return {"years": sorted(fetch + load_only), "load_only": load_only, "reason": reason}


def extract(
    settings: Settings,
    comtrade: ComtradeSettings,
    years: list[int],
    run_id: str | None = None,
    today: date | None = None,
    load_only: list[int] | None = None,
) -> dict:
    """Fetch and land each year (one call per year unless the record cap forces a split).

    Failures are collected per year; a rejected key stops the run's other requests. Years in
    ``load_only`` are already complete in the landing zone: passed on to the load, not fetched.
    """
    base_url, api_key = credentials(comtrade)
    load_only = [y for y in (load_only or []) if y in years]
    landed = [{"year": y, "rows": None, "complete": True, "from_landing": True} for y in load_only]
    years = [y for y in years if y not in load_only]
    failures, costs = [], []
    with ComtradeClient(
        base_url, api_key, timeout_s=comtrade.timeout_s, pacing_s=comtrade.pacing_s, max_records=comtrade.max_records
    ) as client:
        for year in years:
            started = time.monotonic()
            periods = year_periods(year, today)
            request = ComtradeRequest(reporters=comtrade.reporters, flows=FLOWS, periods=periods)
            try:
                responses = client.fetch_complete(request)
            except ComtradeError as error:
                failures.append(year_failure(year, "extract", str(error), transient=error.transient))
                if isinstance(error, ComtradeAuthError):
                    failures += [
                        year_failure(
                            y,
                            "extract",
                            "not requested: the API rejected the key (see the first failure)",
                            consequence=True,
                        )
                        for y in years
                        if y > year
                    ]
                    break
                continue
            extraction_id = str(uuid.uuid4())
            files = [land(settings, year, response, extraction_id) for response in responses]
            rows = sum(r.count for r in responses)
            expected = len(comtrade.reporters) * len(FLOWS) * 12
            record = {
                "extraction_id": extraction_id,
                "run_id": run_id,
                "year": year,
                "extracted_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "reporters": list(comtrade.reporters),
                "periods": list(periods),
                "requests": len(responses),
                "attempts": sum(r.attempts for r in responses),
                "rows": rows,
                "expected_rows": expected,
                "complete": rows == expected,
                "files": [f["path"] for f in files],
                "seconds": round(time.monotonic() - started, 2),
            }
            append_jsonl(year_dir(settings, year) / EXTRACTIONS, record)
            log.info(
                "comtrade %d: %d requests, %d of %d rows (%s)",
                year,
                len(responses),
                rows,
                expected,
                "complete" if record["complete"] else "partners have not reported every month yet",
            )
            landed.append({"year": year, "rows": rows, "complete": record["complete"]})
            costs.append({"year": year, "requests": len(responses), "rows": rows, "seconds": record["seconds"]})
    return {"landed": landed, "failures": failures, "costs": costs, "requests": sum(c["requests"] for c in costs)}


def land(settings: Settings, year: int, response: ComtradeResponse, extraction_id: str) -> dict:
    """Write a response unchanged (gzip, content-addressed) and its manifest row (no key in it)."""
    directory = year_dir(settings, year)
    path, digest = write_immutable(directory, f"data-{response.request.part}", response.body)
    entry = {
        "year": year,
        "path": str(path),
        "request": response.request.describe(),
        "http_status": response.status,
        "bytes": len(response.body),
        "sha256": digest,
        "row_count": response.count,
        "periods_with_rows": response.periods_with_rows,
        "fetched_at": response.fetched_at,
        "source": response.source,
        "attempts": response.attempts,
        "extraction_id": extraction_id,
    }
    append_jsonl(directory / MANIFEST, entry)
    return entry


def landed_files(settings: Settings, year: int) -> list[dict]:
    """The manifest rows of the year's latest extraction (never a mix of two extractions)."""
    record = latest_extraction(settings, year)
    if not record:
        return []
    rows = [
        r
        for r in read_records(year_dir(settings, year) / MANIFEST)
        if r.get("extraction_id") == record["extraction_id"]
    ]
    return sorted({r["path"]: r for r in rows}.values(), key=lambda r: r["path"])


def _stage_sql(files: list[dict], load_id: str, source: str) -> str:
    """DuckDB's JSON reader over the landed files, typed to raw.comtrade_monthly (no Python rows)."""
    paths = ", ".join("'" + f["path"].replace("'", "''") + "'" for f in files)
    row_type = (
        "STRUCT(refYear INTEGER, refMonth INTEGER, period VARCHAR, reporterCode INTEGER, "
        "reporterISO VARCHAR, reporterDesc VARCHAR, flowCode VARCHAR, partnerCode INTEGER, "
        "partner2Code INTEGER, cmdCode VARCHAR, customsCode VARCHAR, motCode INTEGER, "
        "primaryValue DOUBLE, cifvalue DOUBLE, fobvalue DOUBLE, isReported BOOLEAN)[]"
    )
    return f"""
    select
        '{load_id}' as load_id,
        '{source}' as source,
        r.refYear as year,
        make_date(r.refYear, r.refMonth, 1) as month,
        lpad(r.reporterCode::varchar, 3, '0') as reporter_code,
        r.reporterISO as reporter_iso,
        r.reporterDesc as reporter_name,
        r.flowCode as flow_code,
        lpad(r.partnerCode::varchar, 3, '0') as partner_code,
        r.partner2Code::varchar as partner2_code,
        r.cmdCode as cmd_code,
        r.customsCode as customs_code,
        r.motCode::varchar as mot_code,
        r.primaryValue as primary_value_usd,
        r.cifvalue as cif_value_usd,
        r.fobvalue as fob_value_usd,
        r.isReported as is_reported,
        regexp_extract(filename, '[^/]+$') as landed_file,
        now()::timestamp as loaded_at
    from (
        select unnest(data) as r, filename
        from read_json([{paths}], format = 'auto', filename = true,
                       columns = {{'count': 'BIGINT', 'data': '{row_type}', 'error': 'VARCHAR'}})
    )
    """


def load_and_validate(
    settings: Settings, comtrade: ComtradeSettings, years: list[int], run_id: str, force: bool = False
) -> dict:
    """Load each landed year through the GX gate into ``raw.comtrade_monthly``.

    A year whose landed files equal the loaded version's is skipped (unless ``force``); a
    year that fails validation keeps its previous version and is reported.
    """
    from trade_warehouse.load import warehouse

    loaded, skipped, failures = [], [], []
    with warehouse.connect(settings.warehouse_path) as con:
        for year in years:
            try:
                outcome = _load_year(con, settings, comtrade, year, run_id, force)
            except Exception as error:  # an unreadable manifest: this year fails, the others go on
                outcome = year_failure(year, "load", f"{error.__class__.__name__}: {error}")
            if "stage" in outcome:  # a MonthFailure's serialized form
                failures.append(outcome)
                log.info("comtrade load %d: failed at %s: %s", year, outcome["stage"], outcome["reason"])
            else:
                (loaded if outcome["status"] == "loaded" else skipped).append(outcome)
                log.info("comtrade load %d: %s", year, outcome["status"])
    return {"loaded": loaded, "skipped": skipped, "failures": failures}


def _load_year(con, settings: Settings, comtrade: ComtradeSettings, year: int, run_id: str, force: bool) -> dict:
    from trade_warehouse.load import gate, warehouse

    files = landed_files(settings, year)
    if not files:
        return year_failure(year, "load", "nothing landed for this year")
    if sum(f["row_count"] for f in files) == 0:
        return {"year": year, "status": "empty", "reason": "no partner has reported a month of this year yet"}
    fingerprint = landed_fingerprint(files)
    current = con.execute(
        "select load_id, content_sha256, data_sha256 from audit.comtrade_loads where year = ? and status = 'loaded' "
        "order by finished_at desc limit 1",
        [year],
    ).fetchone()
    if current and current[1] == fingerprint and not force:
        mark_loaded(settings, year, fingerprint, current[0])
        return {"year": year, "status": "unchanged", "load_id": current[0]}
    load_id = str(uuid.uuid4())
    started = datetime.now(UTC).replace(tzinfo=None)
    source = "comtrade-emulator" if any(f["source"] == "comtrade-emulator" for f in files) else "comtrade"
    audit = {
        "load_id": load_id,
        "run_id": run_id,
        "year": year,
        "reporters": ",".join(comtrade.reporters),
        "source": source,
        "content_sha256": fingerprint,
        "files": warehouse.as_json([{"path": f["path"], "sha256": f["sha256"]} for f in files]),
        "started_at": started,
    }
    table = f"stage_comtrade_{load_id.replace('-', '')[:12]}"
    try:
        con.execute(f"create or replace temp table {table} as {_stage_sql(files, load_id, source)}")
        per_file = dict(con.execute(f"select landed_file, count(*) from {table} group by 1").fetchall())
        for landed in files:
            name = Path(landed["path"]).name
            if per_file.get(name, 0) != landed["row_count"]:
                raise warehouse.LandingError(
                    f"landed file {name} has {per_file.get(name, 0)} rows but the manifest "
                    f"recorded {landed['row_count']}"
                )
        coverage = "select count(distinct (reporter_code, flow_code, month)) from {} where cmd_code = 'TOTAL'"
        landed_cover = con.execute(coverage.format(table)).fetchone()[0]
        loaded_cover = con.execute(coverage.format("raw.comtrade_monthly") + " and year = ?", [year]).fetchone()[0]
        if landed_cover < loaded_cover and not force:
            # a partial answer or a narrowed reporter list must not delete reporter-months already loaded
            raise warehouse.LandingError(
                f"the landed extraction covers {landed_cover} reporter x flow x months of {year}, fewer than the "
                f"{loaded_cover} loaded; the loaded version is kept (trigger with force=true to replace it)"
            )
        data_sha256 = warehouse.data_fingerprint(con, {"data": table})
        if current and current[2] == data_sha256 and not force:
            # new bytes (every answer carries its own elapsedTime), same rows: nothing to reload
            mark_loaded(settings, year, fingerprint, current[0])
            return {"year": year, "status": "unchanged", "load_id": current[0]}
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
        rows = len(frame)
        finished = datetime.now(UTC).replace(tzinfo=None)
        audit.update(
            rows=rows, data_sha256=data_sha256, finished_at=finished, duration_s=(finished - started).total_seconds()
        )
        if not result.success:
            warehouse._insert_row(
                con, "audit.comtrade_loads", {**audit, "status": "failed_validation", "error": result.summary()}
            )
            return year_failure(
                year,
                "validate",
                f"suite {result.suite}: {len(result.failed)} of {result.evaluated} expectations failed",
                expectations=[FailedExpectation.from_gx(result.suite, f) for f in result.failed],
            )
        con.execute("begin transaction")
        try:
            con.execute("delete from raw.comtrade_monthly where year = ?", [year])
            con.execute(f"insert into raw.comtrade_monthly by name select * from {table}")
            warehouse._insert_row(con, "audit.comtrade_loads", {**audit, "status": "loaded"})
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        mark_loaded(settings, year, fingerprint, load_id)
        return {"year": year, "status": "loaded", "rows": rows, "load_id": load_id}
    except Exception as error:
        finished = datetime.now(UTC).replace(tzinfo=None)
        message = f"{error.__class__.__name__}: {error}"
        warehouse._insert_row(
            con, "audit.comtrade_loads", {**audit, "status": "failed", "error": message, "finished_at": finished}
        )
        return year_failure(year, "load", message)
    finally:
        con.execute(f"drop table if exists {table}")


def year_failure(
    year: int,
    stage: str,
    reason: str,
    transient: bool = False,
    consequence: bool = False,
    expectations: list[FailedExpectation] | None = None,
) -> dict:
    """A failed Comtrade year as the pipeline's one failure type (flow ``comtrade``, period = the year),
    serialized for XCom: the run summary and the alert read it like a Census month's."""
    return MonthFailure(
        "comtrade",
        f"{year:04d}",
        stage,
        transient=transient,
        reason=reason,
        expectations=tuple(expectations or ()),
        consequence=consequence,
    ).to_xcom()


def raise_for_failures(*summaries: dict | None) -> None:
    """End the run failed, naming every failed year, after the good years were published."""
    from trade_warehouse.core.results import PipelineError

    failures = [MonthFailure.from_xcom(f) for s in summaries if s for f in s.get("failures", [])]
    if failures:
        raise PipelineError(failures)
