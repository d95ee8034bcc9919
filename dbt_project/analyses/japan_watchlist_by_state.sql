-- Headline question: "Which states ship potatoes, LNG and coal to Japan, and where do the cars
-- imported from Japan land?" In the latest full year of state data, per item the five largest
-- states (XX = unidentified) by value: exports for potatoes (HS4 0701), LNG and other petroleum
-- gases (2711) and coal (2701), general imports for passenger cars (8703). With each state's
-- share of the item and the value per kilogram shipped by vessel. Reads the HS4 rows of
-- state_trade_monthly (TRADE_STATE_HS_LEVEL HS4 or HS6).
with loaded_months as (
    select distinct
        year(month)::integer as year,
        month
    from {{ ref('state_trade_monthly') }}
),

full_years as (
    select year
    from loaded_months
    group by year
    having count(*) = 12
),

japan as (
    select
        year(month)::integer as year,
        state_code,
        hs_code,
        case hs_code
            when '0701' then 'potato exports'
            when '2711' then 'LNG and petroleum gas exports'
            when '2701' then 'coal exports'
            when '8703' then 'car imports'
        end as item,
        case when hs_code = '8703' then imports_usd else exports_usd end as value_usd,
        case when hs_code = '8703' then import_vessel_usd else export_vessel_usd end as vessel_usd,
        case when hs_code = '8703' then import_vessel_kg else export_vessel_kg end as vessel_kg
    from {{ ref('state_trade_monthly') }}
    where partner_code = '5880'
        and hs_level = 4
        and hs_code in ('0701', '2711', '2701', '8703')
        and year(month) = (select max(full_years.year) from full_years)
),

by_state as (
    select
        year,
        item,
        hs_code,
        state_code,
        sum(value_usd)::bigint as value_usd,
        sum(vessel_usd) as vessel_usd,
        sum(vessel_kg) as vessel_kg
    from japan
    group by year, item, hs_code, state_code
    having sum(value_usd) > 0
),

ranked as (
    select
        *,
        rank() over (partition by item order by value_usd desc) as rank_in_item,
        value_usd / sum(value_usd) over (partition by item) as share_of_item
    from by_state
)

select
    ranked.year,
    ranked.item,
    ranked.hs_code,
    ranked.rank_in_item,
    ranked.state_code,
    dim_state.state_name,
    ranked.value_usd,
    round(ranked.share_of_item, 3) as share_of_item,
    round(ranked.vessel_usd / nullif(ranked.vessel_kg, 0), 2) as vessel_usd_per_kg
from ranked
left join {{ ref('dim_state') }} as dim_state using (state_code)
where ranked.rank_in_item <= 5
order by ranked.item, ranked.rank_in_item
