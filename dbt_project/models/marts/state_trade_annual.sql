-- Grain: year x state x individual partner, over all commodities: the HS2 rows of
-- state_trade_monthly (every level sums to the same totals; HS2 has the fewest rows).
-- export_rank_in_partner ranks the states exporting to the partner that year (1 = largest;
-- ties share a rank); a state without exports to it gets NULL. Full and partial years alike:
-- months_covered says how many months of the year the state traded with the partner.
--
-- Incremental by year like commodity_balance_annual: the years of the months loaded since the
-- last publish (TRADE_CHANGED_MONTHS) are rebuilt whole (the ranks are within a year).
-- `--full-refresh` gives the same table.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='year',
        on_schema_change='fail',
    )
}}

with monthly as (
    select * from {{ ref('state_trade_monthly') }}
    where
        hs_level = 2
        {% if is_incremental() %}
            and {{ changed_months_predicate('year(month)', years=true) }}
        {% endif %}
),

annual as (
    select
        year(month)::integer as year,
        state_code,
        partner_code,
        sum(exports_usd)::bigint as exports_usd,
        sum(imports_usd)::bigint as imports_usd,
        count(distinct month)::integer as months_covered
    from monthly
    group by 1, 2, 3
),

ranked as (
    select
        year,
        state_code,
        partner_code,
        exports_usd,
        imports_usd,
        (exports_usd - imports_usd)::bigint as balance_usd,
        months_covered,
        case
            when exports_usd > 0
                then rank() over (partition by year, partner_code, exports_usd > 0 order by exports_usd desc)
        end::integer as export_rank_in_partner
    from annual
)

select * from ranked
