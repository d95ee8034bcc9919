-- Grain: year x individual partner x HS4. share_of_partner_balance = the heading's balance
-- / the partner's total balance that year; rank_in_partner 1 = most negative balance.
-- Incremental by year: the years of the months loaded since the last publish
-- (TRADE_CHANGED_MONTHS) are rebuilt whole (the ranks and shares are within a year); the post-hook
-- keeps the descriptions of the other years current. `--full-refresh` gives the same table.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='year',
        on_schema_change='fail',
        post_hook="{{ refresh_dimension_names() }}",
    )
}}

-- depends_on: {{ ref('dim_commodity') }}

with hs4 as (
    select
        year(month)::integer as year,
        partner_code,
        hs_code,
        any_value(hs_description) as hs_description,
        sum(exports_usd)::bigint as exports_usd,
        sum(imports_usd)::bigint as imports_usd,
        sum(balance_usd)::bigint as balance_usd
    from {{ ref('commodity_trade_monthly') }}
    where
        hs_level = 4
        {% if is_incremental() %}
            and {{ changed_months_predicate('year(month)', years=true) }}
        {% endif %}
    group by 1, 2, 3
),

partner_year as (
    select
        year,
        partner_code,
        balance_usd as partner_balance_usd
    from {{ ref('trade_balance_annual') }}
)

select
    hs4.year,
    hs4.partner_code,
    hs4.hs_code,
    hs4.hs_description,
    hs4.exports_usd,
    hs4.imports_usd,
    hs4.balance_usd,
    hs4.balance_usd / nullif(partner_year.partner_balance_usd, 0) as share_of_partner_balance,
    rank() over (partition by hs4.year, hs4.partner_code order by hs4.balance_usd asc)::integer as rank_in_partner
from hs4
left join partner_year using (year, partner_code)
