"""``marts.trade_balance_annual_as_of(ts)``: the annual balance as published on a date.

Why in publish: the macro is created in each candidate serving snapshot before it is swapped
in, and reads only the published marts, so BI tools can call it read-only.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

# "As of" in the serving snapshot: trade_balance_annual as it was on a date, rebuilt from the
# published marts alone (so it works read-only): the months first published by then, each
# value as it stood then (the value before the first later revision, else the current one).
AS_OF_MACRO = """
create or replace macro marts.trade_balance_annual_as_of(as_of) as table
with published_months as (
    select month, partner_code
    from marts.trade_balance_vintages
    where first_published_at <= cast(as_of as timestamp)
),

current_values as (
    select
        published_months.month,
        published_months.partner_code,
        flows.flow,
        case flows.flow when 'exports' then coalesce(monthly.exports_usd, 0) else coalesce(monthly.imports_usd, 0) end
            as value_usd
    from published_months
    cross join (values ('exports'), ('imports')) as flows (flow)
    left join marts.trade_balance_monthly as monthly
        on monthly.month = published_months.month and monthly.partner_code = published_months.partner_code
),

later_revisions as (
    select month, partner_code, flow, arg_min(value_before_usd, revised_at) as value_usd
    from marts.trade_revisions_monthly
    where revised_at > cast(as_of as timestamp)
    group by month, partner_code, flow
),

monthly_as_of as (
    select
        current_values.month,
        current_values.partner_code,
        sum(coalesce(later_revisions.value_usd, current_values.value_usd))
            filter (where current_values.flow = 'exports') as exports_usd,
        sum(coalesce(later_revisions.value_usd, current_values.value_usd))
            filter (where current_values.flow = 'imports') as imports_usd
    from current_values
    left join later_revisions
        on later_revisions.month = current_values.month
        and later_revisions.partner_code = current_values.partner_code
        and later_revisions.flow = current_values.flow
    group by current_values.month, current_values.partner_code
    having exports_usd <> 0 or imports_usd <> 0
),

annual as (
    select
        year(month)::integer as year,
        partner_code,
        sum(exports_usd)::bigint as exports_usd,
        sum(imports_usd)::bigint as imports_usd,
        sum(exports_usd - imports_usd)::bigint as balance_usd,
        count(*)::integer as months_covered
    from monthly_as_of
    group by 1, 2
)

select
    annual.year,
    annual.partner_code,
    dim_partner.partner_name,
    dim_partner.partner_iso2,
    annual.exports_usd,
    annual.imports_usd,
    annual.balance_usd,
    annual.months_covered,
    case
        when annual.balance_usd < 0
            then rank() over (partition by annual.year, annual.balance_usd < 0 order by annual.balance_usd asc)
    end::integer as deficit_rank
from annual
left join marts.dim_partner as dim_partner on dim_partner.partner_code = annual.partner_code
"""


def create_as_of_macro(snapshot_path: Path) -> None:
    """Create ``marts.trade_balance_annual_as_of(ts)`` in a candidate serving snapshot.

    DuckDB binds a table macro's tables when it is created, relative to the connection's
    default database; so it is created over a direct connection to the candidate file
    (before it is renamed into service), and BI tools that open ``serving/trade.duckdb``
    call it as ``select * from marts.trade_balance_annual_as_of(timestamp '2017-06-01')``.
    """
    con = duckdb.connect(str(snapshot_path))
    try:
        con.execute(AS_OF_MACRO)
    finally:
        con.close()
