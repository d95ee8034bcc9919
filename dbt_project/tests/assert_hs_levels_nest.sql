-- Per partner-month, HS2, HS4 and HS6 rows each add up to the same totals, and those
-- equal the partner's published total over all commodities. Checks the months a build
-- changed (macros/test_scope.sql); all of them after a change of the project.
with by_level as (
    select
        month,
        partner_code,
        hs_level,
        sum(exports_usd) as exports_usd,
        sum(imports_usd) as imports_usd
    from {{ ref('commodity_trade_monthly') }}
    where {{ changed_months_predicate('month') }}
    group by all
),

published as (
    select
        month,
        partner_code,
        exports_usd,
        imports_usd
    from {{ ref('trade_balance_monthly') }}
)

select
    by_level.*,
    published.exports_usd as published_exports_usd,
    published.imports_usd as published_imports_usd
from by_level
left join published using (month, partner_code)
where by_level.exports_usd is distinct from published.exports_usd
    or by_level.imports_usd is distinct from published.imports_usd
