-- Individual partners x HS6 x month with both flows side by side. HS10 loads are rolled
-- up to HS6 (the common level of Schedule B exports and HTS imports) within one level.
with exports as (
    select
        month,
        partner_code,
        left(hs_code, 6) as hs6_code,
        sum(exports_usd) as exports_usd
    from {{ ref('stg_census__exports_hs') }}
    where partner_code <> '-'
    group by all
),

imports as (
    select
        month,
        partner_code,
        left(hs_code, 6) as hs6_code,
        sum(general_imports_usd) as imports_usd,
        sum(consumption_imports_usd) as consumption_imports_usd
    from {{ ref('stg_census__imports_hs') }}
    where partner_code <> '-'
    group by all
),

joined as (
    select
        coalesce(exports.month, imports.month) as month,
        coalesce(exports.partner_code, imports.partner_code) as partner_code,
        coalesce(exports.hs6_code, imports.hs6_code) as hs6_code,
        coalesce(exports.exports_usd, 0)::bigint as exports_usd,
        coalesce(imports.imports_usd, 0)::bigint as imports_usd,
        coalesce(imports.consumption_imports_usd, 0)::bigint as consumption_imports_usd
    from exports
    full outer join imports
        on exports.month = imports.month
            and exports.partner_code = imports.partner_code
            and exports.hs6_code = imports.hs6_code
)

select * from joined
