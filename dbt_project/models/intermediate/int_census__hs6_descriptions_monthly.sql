-- Grain: month x flow x HS6 code. The commodity's description that month (from HS6-level rows;
-- NULL for codes seen only in HS10 rows) and whether any individual partner traded it.
-- dim_commodity reads this (about 7,000 codes a month) instead of every detail row of the
-- history. Incremental by month like the fact: a night adds or replaces the changed months.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='month',
    )
}}

with detail as (
    select
        month,
        'exports' as flow,
        hs_code,
        hs_description,
        partner_code
    from {{ ref('stg_census__exports_hs') }}
    union all
    select
        month,
        'imports' as flow,
        hs_code,
        hs_description,
        partner_code
    from {{ ref('stg_census__imports_hs') }}
),

by_code as (
    select
        month,
        flow,
        left(hs_code, 6) as hs_code,
        max(hs_description) filter (where length(hs_code) = 6) as hs_description,
        bool_or(partner_code <> '-') as in_partner_rows
    from detail
    {% if is_incremental() %}
        where {{ changed_months_predicate('month') }}
    {% endif %}
    group by month, flow, left(hs_code, 6)
)

select * from by_code
