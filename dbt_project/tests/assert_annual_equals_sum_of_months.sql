-- trade_balance_annual is exactly the sum of its months.
with months as (
    select
        year(month) as year,
        partner_code,
        sum(exports_usd) as exports_usd,
        sum(imports_usd) as imports_usd
    from {{ ref('trade_balance_monthly') }}
    group by all
)

select
    annual.year,
    annual.partner_code,
    annual.exports_usd,
    annual.imports_usd,
    months.exports_usd as months_exports_usd,
    months.imports_usd as months_imports_usd
from {{ ref('trade_balance_annual') }} as annual
left join months using (year, partner_code)
where annual.exports_usd is distinct from months.exports_usd
    or annual.imports_usd is distinct from months.imports_usd
