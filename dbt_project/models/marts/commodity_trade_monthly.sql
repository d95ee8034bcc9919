-- Grain: month x individual partner x HS level (2, 4, 6) x code. Each level is a separate
-- set of rows summed from HS6 within that level: never add rows of different levels.
with fact as (
    select * from {{ ref('fct_trade__partner_hs6_monthly') }}
),

levels as (
    select unnest([2, 4, 6]) as hs_level
),

rolled_up as (
    select
        fact.month,
        fact.partner_code,
        levels.hs_level,
        left(fact.hs6_code, levels.hs_level) as hs_code,
        sum(fact.exports_usd)::bigint as exports_usd,
        sum(fact.imports_usd)::bigint as imports_usd
    from fact
    cross join levels
    group by all
)

select
    rolled_up.month,
    rolled_up.partner_code,
    dim_partner.partner_name,
    rolled_up.hs_level::integer as hs_level,
    rolled_up.hs_code,
    dim_commodity.hs_description,
    left(rolled_up.hs_code, 2) as hs_chapter,
    rolled_up.exports_usd,
    rolled_up.imports_usd,
    (rolled_up.exports_usd - rolled_up.imports_usd)::bigint as balance_usd
from rolled_up
left join {{ ref('dim_partner') }} as dim_partner using (partner_code)
left join {{ ref('dim_commodity') }} as dim_commodity
    on dim_commodity.hs_level = rolled_up.hs_level
    and dim_commodity.hs_code = rolled_up.hs_code
