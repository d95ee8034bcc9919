-- state_trade_annual is exactly the sum of the months of state_trade_monthly, read at the
-- finest level (the annual mart sums the HS2 rows; assert_state_hs_levels_nest ties the two).
-- Checks the years a build changed (macros/test_scope.sql); all of them after a change of the
-- project.
{%- set finest = hs_levels('state_hs_level') | max %}
with months as (
    select
        year(month)::integer as year,
        state_code,
        partner_code,
        sum(exports_usd) as exports_usd,
        sum(imports_usd) as imports_usd,
        count(distinct month) as months_covered
    from {{ ref('state_trade_monthly') }}
    where
        hs_level = {{ finest }}
        and {{ changed_months_predicate('year(month)', years=true) }}
    group by 1, 2, 3
),

annual as (
    select * from {{ ref('state_trade_annual') }}
    where {{ changed_months_predicate('year', years=true) }}
)

select
    year,
    state_code,
    partner_code,
    annual.exports_usd,
    annual.imports_usd,
    annual.months_covered,
    months.exports_usd as months_exports_usd,
    months.imports_usd as months_imports_usd,
    months.months_covered as months_months_covered
from annual
full outer join months using (year, state_code, partner_code)
where annual.exports_usd is distinct from months.exports_usd
    or annual.imports_usd is distinct from months.imports_usd
    or annual.months_covered is distinct from months.months_covered
