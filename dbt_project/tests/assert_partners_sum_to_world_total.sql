-- Per month, individual partners' exports and imports add up exactly to the Census world total.
with partners as (
    select
        month,
        sum(exports_usd) as exports_usd,
        sum(imports_usd) as imports_usd
    from {{ ref('trade_balance_monthly') }}
    group by month
),

world as (
    select
        month,
        exports_usd,
        imports_usd
    from {{ ref('trade_balance_groups_monthly') }}
    where group_code = '-'
)

select
    world.month,
    world.exports_usd,
    partners.exports_usd as partner_exports_usd,
    world.imports_usd,
    partners.imports_usd as partner_imports_usd
from world
full outer join partners using (month)
where partners.exports_usd is distinct from world.exports_usd
    or partners.imports_usd is distinct from world.imports_usd
