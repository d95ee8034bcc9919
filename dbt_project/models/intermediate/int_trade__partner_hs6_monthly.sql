-- Individual partners x HS6 x month with both flows side by side. HS10 loads are rolled
-- up to HS6 (the common level of Schedule B exports and HTS imports) within one level.
-- The flows are stacked and summed per key (the same rows as a full outer join of the two
-- flows with zeros for the missing side): month stays a plain grouping key, so a filter on
-- it (the fact builds one month a night) reaches the raw tables' scans instead of being
-- applied after the whole history was joined.
with exports as (
    select
        month,
        partner_code,
        left(hs_code, 6) as hs6_code,
        exports_usd,
        0 as imports_usd,
        0 as consumption_imports_usd
    from {{ ref('stg_census__exports_hs') }}
    where partner_code <> '-'
),

imports as (
    select
        month,
        partner_code,
        left(hs_code, 6) as hs6_code,
        0 as exports_usd,
        general_imports_usd as imports_usd,
        consumption_imports_usd
    from {{ ref('stg_census__imports_hs') }}
    where partner_code <> '-'
),

stacked as (
    select * from exports
    union all
    select * from imports
),

summed as (
    select
        month,
        partner_code,
        hs6_code,
        sum(exports_usd)::bigint as exports_usd,
        sum(imports_usd)::bigint as imports_usd,
        sum(consumption_imports_usd)::bigint as consumption_imports_usd
    from stacked
    group by month, partner_code, hs6_code
)

select * from summed
