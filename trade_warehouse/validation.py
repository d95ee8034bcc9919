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
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import duckdb
import pandas as pd

from trade_warehouse.config import EXPECTATIONS_DIR, SEEDS_DIR, hs_level_digits
from trade_warehouse.sql_rules import country_type_sql
from trade_warehouse.warehouse import VALUE_COLUMNS, StagedMonth

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

    def summary(self) -> str:
        lines = [f"suite {self.suite}: {len(self.failed)} of {self.evaluated} expectations failed"]
        for failure in self.failed:
            lines.append(
                f"  - {failure['expectation']} {failure['column'] or ''}: observed {failure['observed']}, "
                f"expected {failure['expected']}; examples {failure['examples']}"
            )
        return "\n".join(lines)


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


@lru_cache(maxsize=1)
def _gx():
    """One ephemeral context per process with every suite from ``expectations/``."""
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


def run_suite(name: str, frame: pd.DataFrame, parameters: dict) -> SuiteResult:
    """Validate ``frame`` with the suite ``name``; failures carry observed values and examples."""
    definitions = _gx()
    if name not in definitions:
        raise KeyError(f"no expectation suite {name!r} in {EXPECTATIONS_DIR}")
    result = definitions[name].run(
        batch_parameters={"dataframe": frame}, expectation_parameters=parameters, result_format="SUMMARY"
    )
    failed = []
    for item in result.results:
        if item.success:
            continue
        kwargs = {k: v for k, v in item.expectation_config.kwargs.items() if k not in ("batch_id",)}
        res = item.result or {}
        observed = res.get("observed_value")
        if observed is None and res.get("unexpected_count") is not None:
            observed = f"{res.get('unexpected_count')} unexpected rows"
        if item.exception_info and item.exception_info.get("raised_exception"):
            observed = f"error: {item.exception_info.get('exception_message')}"
        expected = {k: v for k, v in kwargs.items() if k not in ("column", "column_list")}
        if isinstance(expected.get("value_set"), list) and len(expected["value_set"]) > 8:
            expected["value_set"] = f"<{len(expected['value_set'])} known values>"
        failed.append(
            {
                "expectation": item.expectation_config.type,
                "column": kwargs.get("column") or kwargs.get("column_list") or kwargs.get("column_A"),
                "observed": observed,
                "expected": expected,
                "examples": [str(x) for x in (res.get("partial_unexpected_list") or [])[:5]],
            }
        )
    statistics_ = result.statistics
    document = result.to_json_dict()
    document.get("meta", {}).pop("batch_parameters", None)  # holds the DataFrame itself
    return SuiteResult(name, bool(result.success), int(statistics_["evaluated_expectations"]), failed, document)


def row_band(trailing: list[int]) -> tuple[int, int | None]:
    """Accepted detail row count: half to double the median of the trailing months."""
    if not trailing:
        return 1, None
    median = statistics.median(trailing)
    return max(1, int(median * 0.5)), int(median * 2) + 1


def validate_month(con: duckdb.DuckDBPyConnection, staged: StagedMonth, trailing: list[int]) -> MonthValidation:
    """Run the month, totals and reconciliation suites on a staged (not yet loaded) month."""
    values = list(VALUE_COLUMNS[staged.flow].values())
    digits = hs_level_digits(staged.hs_level)
    detail = con.execute(
        f"""
        select partner_code, partner_name, hs_code, hs_description, strftime(month, '%Y-%m') as month_label,
               left(hs_code, 2) as hs_chapter, {", ".join(values)}
        from {staged.detail_table}
        """
    ).df()
    partner_codes = _seed_values("census_partners.csv", "partner_code") + ["-"]
    grouping_codes = _seed_values("census_groupings.csv", "group_code")
    min_rows, max_rows = row_band(trailing)
    results = [
        run_suite(
            f"census_{staged.flow}_month",
            detail,
            {
                "min_rows": min_rows,
                "max_rows": max_rows,
                "partner_codes": partner_codes,
                "hs_code_regex": rf"^\d{{{digits}}}$",
                "hs_chapters": _seed_values("hs_chapters.csv", "hs_chapter"),
                "months": [staged.month],
            },
        )
    ]
    main_value = values[0]
    totals = con.execute(
        f"""
        select partner_code, summary_level, strftime(month, '%Y-%m') as month_label, {main_value} as value_usd
        from {staged.totals_table}
        """
    ).df()
    results.append(
        run_suite(
            "census_month_totals",
            totals,
            {"country_codes": partner_codes + grouping_codes, "months": [staged.month]},
        )
    )
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
            check_name || ' [' || key || ']: ' || coalesce(detail_sum_usd::varchar, 'missing') as detail_sum_usd,
            check_name || ' [' || key || ']: ' || coalesce(published_total_usd::varchar, 'missing')
                as published_total_usd
        from checks
        """
    ).df()
    results.append(run_suite("census_month_reconciliation", reconciliation, {}))
    return MonthValidation(results)
