-- Grain: month x state x individual partner x HS level x code. The finest level is the one
-- the state endpoints are extracted at (TRADE_STATE_HS_LEVEL, default HS4); each coarser level
-- down to HS2 is a separate set of rows summed from the level below: never add rows of
-- different levels. Exports (by state of origin) and general imports (by state of
-- destination) meet in a full outer join: a state may export a code to a partner and import
-- none of it, or the reverse; the missing flow is 0. Unit values ($/kg) are the value of a
-- mode over its shipping weight, NULL where the weight is 0.
--
-- hs_description: the national marts' text (dim_commodity, latest month wins) wherever they
-- know the level and code, so both describe a code alike; otherwise the state API's own text
-- of the month at the finest level, and at coarser levels a label from the chapter seed.
--
-- Incremental by month like commodity_trade_monthly: only the months loaded since the last
-- publish (TRADE_CHANGED_MONTHS, see macros/test_scope.sql) are deleted and rebuilt. The
-- post-hook (meta dimension_names in the YAML) keeps the descriptions of the other months
-- current when dim_commodity changes, so the table equals a `--full-refresh`.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='month',
        on_schema_change='fail',
        post_hook="{{ refresh_dimension_names() }}",
    )
}}
{%- set levels = hs_levels('state_hs_level') %}
{%- set finest = levels | max %}
{%- set coarser = levels | reject('equalto', finest) | sort(reverse=true) | list %}
{%- set measures = [
    'exports_usd', 'imports_usd',
    'export_air_usd', 'export_air_kg', 'export_vessel_usd', 'export_vessel_kg',
    'export_container_usd', 'export_container_kg',
    'import_air_usd', 'import_air_kg', 'import_vessel_usd', 'import_vessel_kg',
    'import_container_usd', 'import_container_kg',
] %}

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

hs{{ finest }} as (
    select
        month,
        state_code,
        partner_code,
        {{ finest }} as hs_level,
        hs_code,
        coalesce(exports.exports_usd, 0) as exports_usd,
        coalesce(imports.general_imports_usd, 0) as imports_usd,
        coalesce(exports.air_usd, 0) as export_air_usd,
        coalesce(exports.air_kg, 0) as export_air_kg,
        coalesce(exports.vessel_usd, 0) as export_vessel_usd,
        coalesce(exports.vessel_kg, 0) as export_vessel_kg,
        coalesce(exports.container_usd, 0) as export_container_usd,
        coalesce(exports.container_kg, 0) as export_container_kg,
        coalesce(imports.air_usd, 0) as import_air_usd,
        coalesce(imports.air_kg, 0) as import_air_kg,
        coalesce(imports.vessel_usd, 0) as import_vessel_usd,
        coalesce(imports.vessel_kg, 0) as import_vessel_kg,
        coalesce(imports.container_usd, 0) as import_container_usd,
        coalesce(imports.container_kg, 0) as import_container_kg,
        -- 'census-emulator' marks synthetic data: it wins over 'census' (as in dim_month)
        case
            when exports.data_source = 'census-emulator' or imports.data_source = 'census-emulator'
                then 'census-emulator'
            else 'census'
        end as data_source
    from exports
    full outer join imports using (month, state_code, partner_code, hs_code)
),

-- each coarser level summed from the level below it (HS4 from HS6, HS2 from HS4)
{%- for level in coarser %}

    hs{{ level }} as (
        select
            month,
            state_code,
            partner_code,
            {{ level }} as hs_level,
            left(hs_code, {{ level }}) as hs_code,
            {%- for measure in measures %}
                sum({{ measure }})::bigint as {{ measure }},
            {%- endfor %}
            -- 'census-emulator' sorts after 'census': synthetic data wins, as above
            max(data_source) as data_source
        from hs{{ loop.previtem | default(finest) }}
        group by all
    ),
{%- endfor %}

rolled_up as (
    -- only the levels the state level allows (macros/hs_levels.sql): HS2 alone at HS2
    select * from hs{{ finest }}
    {%- for level in coarser %}
        union all
        select * from hs{{ level }}
    {%- endfor %}
),

api_descriptions as (
    -- the state API's text of each code in the month, imports' on a tie (as dim_commodity)
    select
        month,
        hs_code,
        arg_max(hs_description, flow) as hs_description
    from (
        select
            month,
            hs_code,
            hs_description,
            'exports' as flow
        from exports
        union all
        select
            month,
            hs_code,
            hs_description,
            'imports' as flow
        from imports
    ) as described
    where hs_description is not null
    group by month, hs_code
)

select
    rolled_up.month,
    rolled_up.state_code,
    rolled_up.partner_code,
    rolled_up.hs_level::integer as hs_level,
    rolled_up.hs_code,
    coalesce(
        dim_commodity.hs_description,
        -- the API's codes are the finest level's: their length tells the level
        api_descriptions.hs_description,
        case
            when rolled_up.hs_level = 2
                then coalesce(chapters.chapter_title, 'Chapter ' || rolled_up.hs_code)
            when rolled_up.hs_level = 4
                then chapters.chapter_title || ': heading ' || rolled_up.hs_code
            else 'HS ' || rolled_up.hs_code
        end
    ) as hs_description,
    {%- for measure in measures %}
        rolled_up.{{ measure }}::bigint as {{ measure }},
    {%- endfor %}
    {%- for flow in ['export', 'import'] %}
        {%- for mode in ['air', 'vessel'] %}
            case
                when rolled_up.{{ flow }}_{{ mode }}_kg > 0
                    then rolled_up.{{ flow }}_{{ mode }}_usd / rolled_up.{{ flow }}_{{ mode }}_kg
            end::double as {{ flow }}_{{ mode }}_usd_per_kg,
        {%- endfor %}
    {%- endfor %}
    rolled_up.data_source
from rolled_up
left join {{ ref('dim_commodity') }} as dim_commodity
    on rolled_up.hs_level = dim_commodity.hs_level
        and rolled_up.hs_code = dim_commodity.hs_code
left join api_descriptions
    on rolled_up.month = api_descriptions.month
        and rolled_up.hs_code = api_descriptions.hs_code
left join {{ ref('hs_chapters') }} as chapters
    on left(rolled_up.hs_code, 2) = chapters.hs_chapter
