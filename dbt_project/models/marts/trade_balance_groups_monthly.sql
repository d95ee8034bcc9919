-- Grain: month x Census grouping, including the world total ('-'). Values exactly as
-- Census publishes them: never re-summed from partners (groupings overlap).
select
    month,
    country_code as group_code,
    country_name as group_name,
    exports_usd::bigint as exports_usd,
    imports_usd::bigint as imports_usd,
    (exports_usd - imports_usd)::bigint as balance_usd
from {{ ref('int_trade__country_totals_monthly') }}
where country_type in ('grouping', 'world_total')
