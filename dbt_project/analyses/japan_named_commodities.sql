-- Headline question: "What do we export to Japan in LNG, coal, potatoes; what do we
-- import in cars?" Per year: exports of LNG (HS6 271111), coal (HS4 2701) and potatoes
-- (HS4 0701) to Japan, and imports of passenger cars (HS4 8703) from Japan.
with japan as (
    select
        year(month)::integer as year,
        hs_level,
        hs_code,
        exports_usd,
        imports_usd
    from {{ ref('commodity_trade_monthly') }}
    where partner_code = '5880'
),

named as (
    select
        year,
        case
            when hs_level = 6 and hs_code = '271111' then 'LNG exports'
            when hs_level = 4 and hs_code = '2701' then 'coal exports'
            when hs_level = 4 and hs_code = '0701' then 'potato exports'
            when hs_level = 4 and hs_code = '8703' then 'car imports'
        end as item,
        case when hs_code = '8703' then imports_usd else exports_usd end as value_usd
    from japan
)

select
    year,
    item,
    sum(value_usd)::bigint as value_usd
from named
where item is not null
group by year, item
order by year, item
