-- Exports and general imports per Census country code and month, over all commodities,
-- exactly as published (partners, groupings and the world total side by side).
with exports as (
    select * from {{ ref('stg_census__exports_totals') }}
),

imports as (
    select * from {{ ref('stg_census__imports_totals') }}
),

joined as (
    select
        coalesce(exports.month, imports.month) as month,
        coalesce(exports.partner_code, imports.partner_code) as country_code,
        coalesce(imports.partner_name, exports.partner_name) as country_name,
        coalesce(exports.country_type, imports.country_type) as country_type,
        coalesce(exports.exports_usd, 0) as exports_usd,
        coalesce(imports.general_imports_usd, 0) as imports_usd,
        coalesce(imports.consumption_imports_usd, 0) as consumption_imports_usd
    from exports
    full outer join imports
        on exports.month = imports.month
            and exports.partner_code = imports.partner_code
)

select * from joined
