-- The state trade fact: month x U.S. state x individual partner x code at the level the state
-- endpoints are extracted at (TRADE_STATE_HS_LEVEL, default HS4). Exports (by state of origin)
-- and general imports (by state of destination) meet in a full outer join: a state may export
-- a code to a partner and import none of it, or the reverse; the missing flow is 0.
--
-- Why a table of its own (like fct_trade__partner_hs6_monthly for the national marts): joined,
-- rolled up, described and written in one statement, a full build of 84 demo months (7.4 M
-- mart rows) ran out of DuckDB's 1 GB; in two statements each stays well under it.
--
-- Incremental by month: only the months loaded since the last publish (TRADE_CHANGED_MONTHS,
-- macros/test_scope.sql) are deleted and rebuilt. `dbt build --full-refresh` gives the same.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='month',
        on_schema_change='fail',
    )
}}
{%- set finest = hs_levels('state_hs_level') | max %}

with exports as (
    select * from {{ ref('stg_census__state_exports_hs') }}
    {% if is_incremental() %}
        where {{ changed_months_predicate('month') }}
    {% endif %}
),

imports as (
    select * from {{ ref('stg_census__state_imports_hs') }}
    {% if is_incremental() %}
        where {{ changed_months_predicate('month') }}
    {% endif %}
),

joined as (
    select
        month,
        state_code,
        partner_code,
        {{ finest }}::integer as hs_level,
        hs_code,
        coalesce(exports.exports_usd, 0)::bigint as exports_usd,
        coalesce(imports.general_imports_usd, 0)::bigint as imports_usd,
        coalesce(exports.air_usd, 0)::bigint as export_air_usd,
        coalesce(exports.air_kg, 0)::bigint as export_air_kg,
        coalesce(exports.vessel_usd, 0)::bigint as export_vessel_usd,
        coalesce(exports.vessel_kg, 0)::bigint as export_vessel_kg,
        coalesce(exports.container_usd, 0)::bigint as export_container_usd,
        coalesce(exports.container_kg, 0)::bigint as export_container_kg,
        coalesce(imports.air_usd, 0)::bigint as import_air_usd,
        coalesce(imports.air_kg, 0)::bigint as import_air_kg,
        coalesce(imports.vessel_usd, 0)::bigint as import_vessel_usd,
        coalesce(imports.vessel_kg, 0)::bigint as import_vessel_kg,
        coalesce(imports.container_usd, 0)::bigint as import_container_usd,
        coalesce(imports.container_kg, 0)::bigint as import_container_kg,
        -- 'census-emulator' marks synthetic data: it wins over 'census' (as in dim_month)
        case
            when exports.data_source = 'census-emulator' or imports.data_source = 'census-emulator'
                then 'census-emulator'
            else 'census'
        end as data_source
    from exports
    full outer join imports using (month, state_code, partner_code, hs_code)
)

select * from joined
