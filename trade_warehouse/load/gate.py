"""Great Expectations gate for every loaded month (write-audit-publish's "audit").

Suites are JSON files in ``expectations/`` versioned with the code and loaded into an
ephemeral GX context per process, so parallel tasks never share or corrupt a file
context. Data reach GX as pandas DataFrames read from DuckDB: GX's SQL datasource over
duckdb-engine returns no rows (great_expectations issue 11579).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import statistics
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import duckdb
import pandas as pd

from trade_warehouse.core.config import EXPECTATIONS_DIR, SEEDS_DIR, hs_level_digits
from trade_warehouse.core.sql_rules import country_type_sql
from trade_warehouse.load.warehouse import VALUE_COLUMNS, StagedMonth

log = logging.getLogger(__name__)
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
# GX logs thousands of INFO lines on import ("Skipping registering function ... closure"):
# lowered before anything imports it, so task logs keep only what an operator needs.
logging.getLogger("great_expectations").setLevel(logging.WARNING)


@dataclass
class SuiteResult:
    suite: str
    success: bool
    evaluated: int
    failed: list[dict] = field(default_factory=list)
    document: dict = field(default_factory=dict, repr=False)  # GX's JSON, for Data Docs
    # a validation of several months (validate_months): each month's own failures
    failed_by_month: dict[str, list[dict]] | None = field(default=None, repr=False)

    def summary(self) -> str:
        lines = [f"suite {self.suite}: {len(self.failed)} of {self.evaluated} expectations failed"]
        for failure in self.failed:
            lines.append(
                f"  - {failure['expectation']} {failure['column'] or ''}: observed {failure['observed']}, "
                f"expected {failure['expected']}; examples {failure['examples']}"
            )
        return "\n".join(lines)

    def for_month(self, month: str) -> SuiteResult:
        """This result as one month of a several-month validation sees it (its own failures only)."""
        if self.failed_by_month is None:
            return self
        failed = self.failed_by_month.get(month, [])
        return SuiteResult(self.suite, not failed, self.evaluated, failed, self.document)


@dataclass
class MonthValidation:
    results: list[SuiteResult]

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results)

    def summary(self) -> str:
        return "\n".join(r.summary() for r in self.results if not r.success) or "all expectations passed"


def _seed_values(name: str, column: str) -> list[str]:
    with open(Path(SEEDS_DIR) / name, newline="", encoding="utf-8") as handle:
        return [row[column] for row in csv.DictReader(handle)]


_GX_LOCK = threading.Lock()


def warm_up() -> threading.Thread:
    """Import GX and build its context in a background thread; returns the thread.

    Importing GX and building the context costs 5 to 7 s of one core, once per process.
    The load task starts it first thing, so it overlaps the reading of the first months
    (DuckDB, on the other core) instead of adding to it. ``_gx`` waits for it if need be.
    """
    thread = threading.Thread(target=_gx, name="gx-warm-up", daemon=True)
    thread.start()
    return thread


def _gx():
    """One ephemeral context per process with every suite from ``expectations/`` (built once)."""
    with _GX_LOCK:
        return _build_gx()


@lru_cache(maxsize=1)
def _build_gx():
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except (ImportError, AttributeError):  # progress bars only cost log noise
        pass
    batch_definition = (
        context.data_sources.add_pandas("trade_month")
        .add_dataframe_asset("month")
        .add_batch_definition_whole_dataframe("whole")
    )
    definitions = {}
    for path in sorted(Path(EXPECTATIONS_DIR).glob("*.json")):
        suite = context.suites.add(gx.ExpectationSuite(**json.loads(path.read_text(encoding="utf-8"))))
        definitions[suite.name] = context.validation_definitions.add(
            gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=suite)
        )
    return definitions


def run_suite(
    name: str,
    frame: pd.DataFrame,
    parameters: dict,
    examples_from: pd.DataFrame | None = None,
    by_month: list[str] | None = None,
) -> SuiteResult:
    """Validate ``frame`` with the suite ``name``; failures carry observed values and examples.

    ``by_month``: the frame holds several months (column ``loaded_month``); each failure is
    attributed to the months of its unexpected rows (GX's ``unexpected_index_list``), or to
    every month when GX names no rows. ``examples_from``: a frame of set-based checks (one
    row per month, ``detail_checks``), whose failures report the checked value itself and
    the examples in its ``<column>_examples``.
    """
    definitions = _gx()
    if name not in definitions:
        raise KeyError(f"no expectation suite {name!r} in {EXPECTATIONS_DIR}")
    result_format: str | dict = "SUMMARY"
    if by_month is not None:
        result_format = {"result_format": "COMPLETE", "unexpected_index_column_names": ["loaded_month"]}
    result = definitions[name].run(
        batch_parameters={"dataframe": frame}, expectation_parameters=parameters, result_format=result_format
    )
    failed: list[dict] = []
    failed_by_month: dict[str, list[dict]] | None = None if by_month is None else {m: [] for m in by_month}
    for item in result.results:
        if item.success:
            continue
        kwargs = {k: v for k, v in item.expectation_config.kwargs.items() if k not in ("batch_id",)}
        res = item.result or {}
        raised = bool(item.exception_info and item.exception_info.get("raised_exception"))
        observed = res.get("observed_value")
        if observed is None and res.get("unexpected_count") is not None:
            observed = f"{res.get('unexpected_count')} unexpected rows"
        if raised:
            observed = f"error: {item.exception_info.get('exception_message')}"
        expected: dict | str = {
            k: v for k, v in kwargs.items() if k not in ("column", "column_list", "column_A", "column_B")
        }
        if kwargs.get("column_B"):  # a pair: say the relation, not GX's flags
            relation = "=" if "equal" in item.expectation_config.type else (">=" if kwargs.get("or_equal") else ">")
            expected = f"{kwargs['column_A']} {relation} {kwargs['column_B']}"
        if (
            isinstance(expected, dict)
            and isinstance(expected.get("value_set"), list)
            and len(expected["value_set"]) > 8
        ):
            expected["value_set"] = f"<{len(expected['value_set'])} known values>"
        columns = [kwargs[k] for k in ("column_A", "column_B") if kwargs.get(k)] or kwargs.get("column_list")
        column = kwargs.get("column") or columns
        base = {
            "expectation": item.expectation_config.type,
            "column": ", ".join(column) if isinstance(column, list) else column,
            "observed": observed,
            "expected": expected,
            "examples": [str(x) for x in (res.get("partial_unexpected_list") or [])[:5]],
        }
        if failed_by_month is None:
            failed.append(base)
            continue
        rows = res.get("unexpected_index_list") or []
        hit: dict[str, list[dict]] = {}
        for row in rows:
            if isinstance(row, dict) and row.get("loaded_month") in failed_by_month:
                hit.setdefault(row["loaded_month"], []).append(row)
        if raised or not hit:  # a table-level failure or an error: every month of the batch
            hit = {month: [] for month in failed_by_month}
        for month, month_rows in hit.items():
            entry = dict(base)
            shown = [kwargs.get("column")] if kwargs.get("column") else (columns or [])
            if month_rows:
                entry["observed"] = f"{len(month_rows)} unexpected rows"
                joiner = " vs " if kwargs.get("column_B") else ", "  # a pair compares; a key lists
                entry["examples"] = [joiner.join(str(r.get(c)) for c in shown) for r in month_rows[:5]]
            if examples_from is not None and not raised:
                row = examples_from[examples_from["loaded_month"] == month]
                if len(row) == 1:
                    row = row.iloc[0]
                    if kwargs.get("column_B"):  # the row-count band: both sides
                        a, b = kwargs["column_A"], kwargs["column_B"]
                        entry["observed"] = f"{a} {row[a]}, {b} {row[b]}"
                        entry["examples"] = []
                    elif kwargs.get("column") in row:
                        entry["observed"] = str(row[kwargs["column"]])
                        listed = row.get(f"{kwargs['column']}_examples")
                        entry["examples"] = [str(x) for x in (list(listed) if listed is not None else [])]
            failed_by_month[month].append(entry)
            failed.append({**entry, "month": month})
    statistics_ = result.statistics
    document = result.to_json_dict()
    document.get("meta", {}).pop("batch_parameters", None)  # holds the DataFrame itself
    return SuiteResult(
        name, bool(result.success), int(statistics_["evaluated_expectations"]), failed, document, failed_by_month
    )


def row_band(trailing: list[int]) -> tuple[int, int | None]:
    """Accepted detail row count: half to double the median of the trailing months."""
    if not trailing:
        return 1, None
    median = statistics.median(trailing)
    return max(1, int(median * 0.5)), int(median * 2) + 1


MAX_EXAMPLES = 3


def detail_checks(con: duckdb.DuckDBPyConnection, staged: StagedMonth, trailing: list[int]) -> pd.DataFrame:
    """The month's detail rows checked in DuckDB, set-based: one row for GX to assert.

    Per rule, how many rows (or keys) break it and up to three of them; plus the row count
    and its band. Checking 230,000 rows a month this way takes DuckDB a few hundredths of
    a second; handing them to GX as a DataFrame took about a second a month (make bench).
    """
    values = list(VALUE_COLUMNS[staged.flow].values())
    digits = hs_level_digits(staged.hs_level)
    min_rows, max_rows = row_band(trailing)
    counted = {
        "null_partner_code": ("partner_code is null", "hs_code"),
        "null_hs_code": ("hs_code is null", "partner_code"),
        "null_month": ("month is null", "partner_code || ' ' || hs_code"),
        **{f"null_{v}": (f"{v} is null", "partner_code || ' ' || hs_code") for v in values},
        "unknown_partner_code": ("partner_code not in (select code from partners)", "partner_code"),
        "malformed_hs_code": (f"not regexp_full_match(hs_code, '\\d{{{digits}}}')", "hs_code"),
        "unknown_hs_chapter": ("left(hs_code, 2) not in (select code from chapters)", "hs_code"),
        "other_month_rows": ("strftime(month, '%Y-%m') <> $month", "strftime(month, '%Y-%m')"),
        **{f"malformed_{v}": (f"not regexp_full_match({v}, '\\d{{1,18}}')", v) for v in values},
    }
    aggregates = []
    for column, (broken, shown) in counted.items():
        aggregates.append(f"count(*) filter (where coalesce({broken}, false)) as {column}")
        aggregates.append(
            f"list_sort(list(distinct coalesce({shown}, 'NULL')) filter (where coalesce({broken}, false)))"
            f"[1:{MAX_EXAMPLES}] as {column}_examples"
        )
    frame = con.execute(
        f"""
        with partners as (select unnest($partners::varchar[]) as code),
        chapters as (select unnest($chapters::varchar[]) as code),
        checks as (
            select count(*) as detail_rows, {", ".join(aggregates)}
            from {staged.detail_table}
        ),
        duplicates as (
            select count(*) as duplicate_partner_hs_code,
                   list_sort(list(partner_code || ' ' || hs_code))[1:{MAX_EXAMPLES}] as duplicate_partner_hs_code_examples
            from (
                select partner_code, hs_code from {staged.detail_table}
                group by partner_code, hs_code, month having count(*) > 1
            )
        )
        select $month as loaded_month, $min_rows::bigint as min_rows, $max_rows::bigint as max_rows, *
        from checks, duplicates
        """,
        {
            "partners": _seed_values("census_partners.csv", "partner_code") + ["-"],
            "chapters": _seed_values("hs_chapters.csv", "hs_chapter"),
            "month": staged.month,
            "min_rows": min_rows,
            "max_rows": max_rows if max_rows is not None else 2**62,  # no band without trailing months
        },
    ).df()
    return frame


def _frames(con: duckdb.DuckDBPyConnection, staged: StagedMonth, trailing: list[int]) -> dict[str, pd.DataFrame]:
    """The three frames GX asserts for one staged month, each with its ``loaded_month``."""
    values = list(VALUE_COLUMNS[staged.flow].values())
    digits = hs_level_digits(staged.hs_level)
    main_value = values[0]
    totals = con.execute(
        f"""
        select $month as loaded_month, partner_code, summary_level, strftime(month, '%Y-%m') as month_label,
               {main_value} as value_usd
        from {staged.totals_table}
        """,
        {"month": staged.month},
    ).df()
    hs4_cte, hs4_union = "", ""
    if digits >= 4 and not staged.hs4_table:
        log.warning(
            "%s %s has no HS4 world totals (landed before they were extracted): the HS4 "
            "reconciliation is skipped for it",
            staged.flow,
            staged.month,
        )
    if staged.hs4_table and digits >= 4:
        # the month's world-total detail rows, rolled up to HS4, against the API's own HS4 totals
        hs4_cte = f"""
        hs4_check as (
            select 'HS{digits} world rows sum to the published HS4 total' as check_name,
                   coalesce(d.hs4_code, p.hs4_code) as key,
                   coalesce(d.detail_sum_usd, 0) as detail_sum_usd,
                   coalesce(p.published_total_usd, 0) as published_total_usd
            from (
                select left(hs_code, 4) as hs4_code, sum(try_cast({main_value} as hugeint)) as detail_sum_usd
                from {staged.detail_table} where partner_code = '-' group by 1
            ) as d
            full outer join (
                select hs_code as hs4_code, sum(try_cast({main_value} as hugeint)) as published_total_usd
                from {staged.hs4_table} group by 1
            ) as p using (hs4_code)
        ),"""
        hs4_union = "\n            union all\n            select * from hs4_check"
    reconciliation = con.execute(
        f"""
        with {hs4_cte}
        detail_by_partner as (
            select partner_code, sum(try_cast({main_value} as hugeint)) as detail_sum_usd
            from {staged.detail_table} group by partner_code
        ),
        published as (
            select partner_code, try_cast({main_value} as hugeint) as published_total_usd
            from {staged.totals_table}
        ),
        partner_checks as (
            select 'commodities sum to partner total' as check_name, d.partner_code as key,
                   d.detail_sum_usd, p.published_total_usd
            from detail_by_partner as d
            left join published as p using (partner_code)
        ),
        world_check as (
            select 'partners sum to world total' as check_name, '-' as key,
                   (select sum(published_total_usd) from published
                    where {country_type_sql("partner_code")} = 'partner') as detail_sum_usd,
                   (select max(published_total_usd) from published where partner_code = '-') as published_total_usd
        ),
        checks as (
            select * from partner_checks
            union all
            select * from world_check{hs4_union}
        )
        -- label both sides, so a failure's examples say which check and which partner
        select
            $month as loaded_month,
            check_name || ' [' || key || ']: ' || coalesce(detail_sum_usd::varchar, 'missing') as detail_sum_usd,
            check_name || ' [' || key || ']: ' || coalesce(published_total_usd::varchar, 'missing')
                as published_total_usd
        from checks
        """,
        {"month": staged.month},
    ).df()
    return {
        f"census_{staged.flow}_month": detail_checks(con, staged, trailing),
        "census_month_totals": totals,
        "census_month_reconciliation": reconciliation,
    }


def validate_months(
    con: duckdb.DuckDBPyConnection, months: list[tuple[StagedMonth, list[int]]]
) -> tuple[dict[str, MonthValidation], list[SuiteResult]]:
    """Run the month, totals and reconciliation suites over staged (not yet loaded) months of one flow.

    Each month's rows are checked in DuckDB; the frames of all the months then go through
    one GX validation per suite (GX costs about 30 ms per expectation per run, whatever the
    frame: one run per suite per month cost more than the checks). Every failure is
    traced back to its month through the frames' ``loaded_month`` column, so one bad month
    fails alone. Returns each month's validation and the batch's suite results (for Data Docs).
    """
    flows = {staged.flow for staged, _ in months}
    if len(flows) != 1:
        raise ValueError(f"validate_months takes months of one flow, not {sorted(flows)}")
    frames: dict[str, list[pd.DataFrame]] = {}
    for staged, trailing in months:
        for suite, frame in _frames(con, staged, trailing).items():
            frames.setdefault(suite, []).append(frame)
    labels = [staged.month for staged, _ in months]
    grouping_codes = _seed_values("census_groupings.csv", "group_code")
    parameters = {
        "census_month_totals": {
            "country_codes": _seed_values("census_partners.csv", "partner_code") + ["-"] + grouping_codes
        }
    }
    per_month: dict[str, list[SuiteResult]] = {label: [] for label in labels}
    batch: list[SuiteResult] = []
    for suite, parts in frames.items():
        frame = pd.concat(parts, ignore_index=True)
        checks = frame if suite.endswith("_month") else None
        result = run_suite(suite, frame, parameters.get(suite, {}), examples_from=checks, by_month=labels)
        batch.append(result)
        for label in labels:
            per_month[label].append(result.for_month(label))
    return {label: MonthValidation(results) for label, results in per_month.items()}, batch


def save_result(results_dir: Path, run_id: str, flow: str, month: str, result: SuiteResult) -> Path:
    """Keep a validation result as JSON so one later task can build the Data Docs site."""
    safe_run = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
    target = Path(results_dir) / safe_run / f"{flow}-{month}-{result.suite}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result.document, default=str), encoding="utf-8")
    return target
