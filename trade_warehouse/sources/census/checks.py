"""The Census gate: what a staged flow-month must satisfy before it replaces the loaded one.

Why here and not in ``load/gate``: the rules (partner codes, HS chapters, totals that
reconcile with the detail, the row-count band) and the frames they are asserted on are
the Census tables' shape; ``load/gate`` only runs suites. Each month's rows are checked in
DuckDB, set-based, and GX asserts the small frames that come out (see ``detail_checks``).
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from trade_warehouse.core.config import SEEDS_DIR, hs_level_digits
from trade_warehouse.core.sql_rules import country_type_sql
from trade_warehouse.load.gate import SuiteResult, row_band, run_suite
from trade_warehouse.sources.census.api import VALUE_COLUMNS
from trade_warehouse.sources.census.reader import StagedMonth

log = logging.getLogger(__name__)


@dataclass
class MonthValidation:
    """One month's results of every suite: it passes when they all do."""

    results: list[SuiteResult]

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results)

    def summary(self) -> str:
        return "\n".join(r.summary() for r in self.results if not r.success) or "all expectations passed"


def seed_values(name: str, column: str) -> list[str]:
    """One column of a dbt seed: the gate and the marts know the same partner codes and chapters."""
    with open(Path(SEEDS_DIR) / name, newline="", encoding="utf-8") as handle:
        return [row[column] for row in csv.DictReader(handle)]


MAX_EXAMPLES = 3


def rule_aggregates(rules: dict[str, tuple[str, str]]) -> list[str]:
    """SQL aggregates for set-based rules: per rule, how many rows break it and up to three examples.

    ``rules``: column name -> (SQL true for a row that breaks the rule, SQL of what to show).
    """
    aggregates = []
    for column, (broken, shown) in rules.items():
        aggregates.append(f"count(*) filter (where coalesce({broken}, false)) as {column}")
        aggregates.append(
            f"list_sort(list(distinct coalesce({shown}, 'NULL')) filter (where coalesce({broken}, false)))"
            f"[1:{MAX_EXAMPLES}] as {column}_examples"
        )
    return aggregates


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
    aggregates = rule_aggregates(counted)
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
            "partners": seed_values("census_partners.csv", "partner_code") + ["-"],
            "chapters": seed_values("hs_chapters.csv", "hs_chapter"),
            "month": staged.month,
            "min_rows": min_rows,
            "max_rows": max_rows if max_rows is not None else 2**62,  # no band without trailing months
        },
    ).df()
    return frame


def _frames(con: duckdb.DuckDBPyConnection, staged: StagedMonth, trailing: list[int]) -> dict[str, pd.DataFrame]:
    """The three frames GX asserts for one staged month, each with its ``loaded_month``."""
    return {
        f"census_{staged.flow}_month": detail_checks(con, staged, trailing),
        "census_month_totals": _totals_frame(con, staged),
        "census_month_reconciliation": _reconciliation_frame(con, staged),
    }


def _main_value(staged: StagedMonth) -> str:
    """The value column both sides of a reconciliation compare (exports: all, imports: general)."""
    return list(VALUE_COLUMNS[staged.flow].values())[0]


def _totals_frame(con: duckdb.DuckDBPyConnection, staged: StagedMonth) -> pd.DataFrame:
    return con.execute(
        f"""
        select $month as loaded_month, partner_code, summary_level, strftime(month, '%Y-%m') as month_label,
               {_main_value(staged)} as value_usd
        from {staged.totals_table}
        """,
        {"month": staged.month},
    ).df()


def _hs4_check(staged: StagedMonth) -> tuple[str, str]:
    """The HS4 reconciliation's CTE and its union line, or two empty strings when it does not apply."""
    digits = hs_level_digits(staged.hs_level)
    if digits >= 4 and not staged.hs4_table:
        log.warning(
            "%s %s has no HS4 world totals (landed before they were extracted): the HS4 "
            "reconciliation is skipped for it",
            staged.flow,
            staged.month,
        )
    if not (staged.hs4_table and digits >= 4):
        return "", ""
    main_value = _main_value(staged)
    # the month's world-total detail rows, rolled up to HS4, against the API's own HS4 totals
    cte = f"""
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
    return cte, "\n            union all\n            select * from hs4_check"


def _reconciliation_frame(con: duckdb.DuckDBPyConnection, staged: StagedMonth) -> pd.DataFrame:
    """Detail sums against the published totals, per partner, for the world, and per HS4 heading."""
    main_value = _main_value(staged)
    hs4_cte, hs4_union = _hs4_check(staged)
    return con.execute(
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
    grouping_codes = seed_values("census_groupings.csv", "group_code")
    parameters = {
        "census_month_totals": {
            "country_codes": seed_values("census_partners.csv", "partner_code") + ["-"] + grouping_codes
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
