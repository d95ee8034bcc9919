"""The gate of a state-level month (``statehs``): its own rules, and agreement with the national month.

Why a module beside ``checks``: a state month has another key (state x partner x
commodity), more value columns (value and shipping weight by method of transport) and a
second source of truth, the national month already loaded: for each partner x commodity
the states, the unidentified ``XX`` included, must sum to the national value. A state month
that fails keeps its previous version (or none) and never holds back the national months,
which were loaded before it in the same run. As in ``checks``, the rows are checked in
DuckDB, set-based, and GX asserts the small frames that come out.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from trade_warehouse.core.config import hs_level_digits
from trade_warehouse.load.gate import SuiteResult, row_band, run_suite
from trade_warehouse.sources.census.api import API_FLOW, VALUE_COLUMNS
from trade_warehouse.sources.census.checks import MAX_EXAMPLES, MonthValidation, rule_aggregates, seed_values
from trade_warehouse.sources.census.reader import StagedMonth

MAX_MISMATCHES = 50  # keys shown per month when the states miss the national values
ALL_STATES = "-"


def _values(staged: StagedMonth) -> list[str]:
    return list(VALUE_COLUMNS[staged.flow].values())


def _rules(values: list[str], digits: int) -> dict[str, tuple[str, str]]:
    """Each rule of a state month: (SQL that is true for a row breaking it, SQL of the example shown)."""
    key = "state_code || ' ' || partner_code || ' ' || hs_code"

    def any_value(condition: str) -> tuple[str, str]:
        """A rule over every value column: broken when one is; the example names the column."""
        broken = " or ".join(f"({condition.format(v=v)})" for v in values)
        shown = " || ".join(
            f"case when coalesce({condition.format(v=v)}, false) then ' {v}=' || coalesce({v}, 'NULL') else '' end"
            for v in values
        )
        return broken, f"{key} || ':' || {shown}"

    return {
        "null_state_code": ("state_code is null", "partner_code || ' ' || hs_code"),
        "null_partner_code": ("partner_code is null", "state_code || ' ' || hs_code"),
        "null_hs_code": ("hs_code is null", "state_code || ' ' || partner_code"),
        "null_month": ("month is null", key),
        "null_values": any_value("{v} is null"),
        "unknown_state_code": ("state_code not in (select code from states)", "state_code"),
        "unknown_partner_code": ("partner_code not in (select code from partners)", "partner_code"),
        "malformed_hs_code": (f"not regexp_full_match(hs_code, '\\d{{{digits}}}')", "hs_code"),
        "unknown_hs_chapter": ("left(hs_code, 2) not in (select code from chapters)", "hs_code"),
        "other_month_rows": ("strftime(month, '%Y-%m') <> $month", "strftime(month, '%Y-%m')"),
        "malformed_values": any_value("not regexp_full_match({v}, '-?\\d{{1,18}}')"),
        "negative_values": any_value("try_cast({v} as hugeint) < 0"),
        "modes_above_total": (
            f"try_cast(air_value_usd as hugeint) + try_cast(vessel_value_usd as hugeint)"
            f" > try_cast({values[0]} as hugeint)"
            " or try_cast(container_value_usd as hugeint) > try_cast(vessel_value_usd as hugeint)",
            key,
        ),
    }


def state_detail_checks(con: duckdb.DuckDBPyConnection, staged: StagedMonth, trailing: list[int]) -> pd.DataFrame:
    """The month's state rows checked in DuckDB: one row of counts and examples for GX to assert."""
    values = _values(staged)
    min_rows, max_rows = row_band(trailing)
    counted = _rules(values, hs_level_digits(staged.hs_level))
    aggregates = rule_aggregates(counted)
    return con.execute(
        f"""
        with states as (select unnest($states::varchar[]) as code),
        partners as (select unnest($partners::varchar[]) as code),
        chapters as (select unnest($chapters::varchar[]) as code),
        checks as (
            select count(*) as detail_rows, {", ".join(aggregates)}
            from {staged.detail_table}
        ),
        duplicates as (
            select count(*) as duplicate_state_partner_hs_code,
                   list_sort(list(state_code || ' ' || partner_code || ' ' || hs_code))[1:{MAX_EXAMPLES}]
                       as duplicate_state_partner_hs_code_examples
            from (
                select state_code, partner_code, hs_code from {staged.detail_table}
                group by state_code, partner_code, hs_code, month having count(*) > 1
            )
        )
        select $month as loaded_month, $min_rows::bigint as min_rows, $max_rows::bigint as max_rows, *
        from checks, duplicates
        """,
        {
            "states": seed_values("census_states.csv", "state_code") + [ALL_STATES],
            "partners": seed_values("census_partners.csv", "partner_code") + ["-"],
            "chapters": seed_values("hs_chapters.csv", "hs_chapter"),
            "month": staged.month,
            "min_rows": min_rows,
            "max_rows": max_rows if max_rows is not None else 2**62,
        },
    ).df()


def state_reconciliation(con: duckdb.DuckDBPyConnection, staged: StagedMonth, national_level: str) -> pd.DataFrame:
    """The keys where the state month disagrees with the national month or its own state totals.

    First row: the number of partner x commodity keys compared, on both sides (so the frame
    is never empty and a month with nothing to compare to fails: the national month must be
    loaded). Then one row per disagreeing key, both sides labelled with the check and key.
    """
    digits = min(hs_level_digits(staged.hs_level), hs_level_digits(national_level))
    compared = "'partner x commodity keys compared with the national month: '"
    return con.execute(
        f"""
        with {_mismatches_sql(staged, digits)}
        select $month as loaded_month,
               {compared} || (select count(*) from national) as state_sum_usd,
               {compared} || (select case when count(*) = 0 then 'none: the national month is not loaded'
                                          else count(*)::varchar end from national) as reference_usd
        union all
        select $month, label || coalesce(left_usd::varchar, 'missing'), label || coalesce(right_usd::varchar, 'missing')
        from mismatches
        """,
        {"month": staged.month, "month_date": f"{staged.month}-01", "national_level": national_level},
    ).df()


def _mismatches_sql(staged: StagedMonth, digits: int) -> str:
    """CTEs ``national`` (the national month by partner x commodity) and ``mismatches`` (labelled keys)."""
    main = _values(staged)[0]  # exports: all_value_usd; imports: gen_value_usd, as in the national table
    national_table = f"raw.census_{API_FLOW[staged.flow]}_hs"
    return f"""
        states as (
            select partner_code, left(hs_code, {digits}) as hs_code, sum(try_cast({main} as hugeint)) as usd
            from {staged.detail_table} where state_code <> '{ALL_STATES}' group by all
        ),
        national as (
            select partner_code, left(hs_code, {digits}) as hs_code, sum({main})::hugeint as usd
            from {national_table}
            where month = $month_date::date and hs_level = $national_level group by all
        ),
        by_key as (
            select coalesce(s.partner_code, n.partner_code) as partner_code,
                   coalesce(s.hs_code, n.hs_code) as hs_code, s.usd as state_usd, n.usd as national_usd
            from states as s full outer join national as n using (partner_code, hs_code)
        ),
        by_state as (
            select coalesce(d.state_code, t.state_code) as state_code, d.usd as detail_usd, t.usd as total_usd
            from (
                select state_code, sum(try_cast({main} as hugeint)) as usd
                from {staged.detail_table} where partner_code <> '-' group by all
            ) as d
            full outer join (
                select state_code, try_cast({main} as hugeint) as usd from {staged.totals_table}
            ) as t using (state_code)
        ),
        mismatches as (
            (
                select 'states sum to the national value [partner ' || partner_code || ', HS{digits} '
                       || hs_code || ']: ' as label, state_usd as left_usd, national_usd as right_usd
                from by_key where state_usd is distinct from national_usd
                order by partner_code, hs_code limit {MAX_MISMATCHES}
            )
            union all
            (
                select 'state rows sum to the state total [state ' || state_code || ']: ', detail_usd, total_usd
                from by_state where detail_usd is distinct from total_usd
                order by state_code limit {MAX_MISMATCHES}
            )
        )"""


def validate_state_months(
    con: duckdb.DuckDBPyConnection, months: list[tuple[StagedMonth, list[int]]], national_level: str
) -> tuple[dict[str, MonthValidation], list[SuiteResult]]:
    """Run the state month and reconciliation suites over staged months of one state flow.

    As ``checks.validate_months``: one GX run per suite for the batch, each failure traced
    back to its month. The national month is read from the raw tables, where this run's
    national months (loaded before the state months) already are.
    """
    flows = {staged.flow for staged, _ in months}
    if len(flows) != 1:
        raise ValueError(f"validate_state_months takes months of one flow, not {sorted(flows)}")
    frames: dict[str, list[pd.DataFrame]] = {"census_state_month": [], "census_state_reconciliation": []}
    for staged, trailing in months:
        frames["census_state_month"].append(state_detail_checks(con, staged, trailing))
        frames["census_state_reconciliation"].append(state_reconciliation(con, staged, national_level))
    labels = [staged.month for staged, _ in months]
    per_month: dict[str, list[SuiteResult]] = {label: [] for label in labels}
    batch: list[SuiteResult] = []
    for suite, parts in frames.items():
        frame = pd.concat(parts, ignore_index=True)
        checks = frame if suite.endswith("_month") else None
        result = run_suite(suite, frame, {}, examples_from=checks, by_month=labels)
        batch.append(result)
        for label in labels:
            per_month[label].append(result.for_month(label))
    return {label: MonthValidation(results) for label, results in per_month.items()}, batch
