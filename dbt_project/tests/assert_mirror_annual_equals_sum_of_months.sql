-- The annual mirror mart is the sum of the monthly one, on both sides (the partner side
-- within a dollar per month: each month's CIF total is rounded to whole dollars).
with monthly as (
    select
        year(month)::integer as year,
        partner_code,
        sum(us_exports_usd) as us_exports_usd,
        sum(us_imports_usd) as us_imports_usd,
        sum(partner_imports_cif_usd) as partner_imports_cif_usd,
        sum(partner_exports_usd) as partner_exports_usd
    from {{ ref('mirror_trade_monthly') }}
    group by 1, 2
),

annual as (
    select * from {{ ref('mirror_trade_annual') }}
)

select
    annual.year,
    annual.partner_code
from annual
inner join monthly using (year, partner_code)
where annual.us_exports_usd is distinct from monthly.us_exports_usd
    or annual.us_imports_usd is distinct from monthly.us_imports_usd
    or abs(coalesce(annual.partner_imports_cif_usd, 0) - coalesce(monthly.partner_imports_cif_usd, 0)) > 12
    or abs(coalesce(annual.partner_exports_usd, 0) - coalesce(monthly.partner_exports_usd, 0)) > 12
