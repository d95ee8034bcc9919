-- Grain: month x state x individual partner x HS level x code. The finest level is the one
-- the state endpoints are extracted at (TRADE_STATE_HS_LEVEL, default HS4): the rows of the
-- state fact (fct_trade__state_partner_hs_monthly, where exports and imports are joined).
-- Each coarser level down to HS2 is a separate set of rows summed from the finest: never add
-- rows of different levels. Unit values ($/kg) are the value of a mode over its shipping
-- weight, NULL where the weight is 0.
--
-- hs_description: the national marts' text (dim_commodity, latest month wins) wherever they
-- know the level and code, so both describe a code alike; otherwise the state API's own text
-- of the month at the finest level, and at coarser levels a label from the chapter seed. The
-- text is worked out once per month x level x code (a few thousand rows) and joined last.
--
-- Memory: every CTE over the fact reads the table itself, none is read twice (DuckDB keeps a
-- CTE read twice in memory whole); see the fact's header for why the join is a table.
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
{%- set measures = state_trade_measures() %}
{%- set month_filter -%}
    {% if is_incremental() %}where {{ changed_months_predicate('month') }}{% endif %}
{%- endset %}

with hs{{ finest }} as (
    select
        month,
        state_code,
        partner_code,
        hs_level,
        hs_code,
        {%- for measure in measures %}
            {{ measure }},
        {%- endfor %}
        data_source
    from {{ ref('fct_trade__state_partner_hs_monthly') }}
    {{ month_filter }}
),
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
            -- 'census-emulator' sorts after 'census': synthetic data wins (as in the fact)
            max(data_source) as data_source
        from {{ ref('fct_trade__state_partner_hs_monthly') }}
        {{ month_filter }}
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

finest_codes as (
    -- every code of the month at the finest level, with the state API's text of it
    -- (imports' on a tie, as dim_commodity)
    select
        month,
        hs_code,
        arg_max(hs_description, flow) filter (where hs_description is not null) as api_description
    from (
        select
            month,
            hs_code,
            hs_description,
            'exports' as flow
        from {{ ref('stg_census__state_exports_hs') }}
        {{ month_filter }}
        union all
        select
            month,
            hs_code,
            hs_description,
            'imports' as flow
        from {{ ref('stg_census__state_imports_hs') }}
        {{ month_filter }}
    ) as described
    group by month, hs_code
),

codes as (
    select
        month,
        {{ finest }} as hs_level,
        hs_code,
        api_description
    from finest_codes
    {%- for level in coarser %}
        union all
        select distinct
            month,
            {{ level }} as hs_level,
            left(hs_code, {{ level }}) as hs_code,
            null::varchar as api_description
        from finest_codes
    {%- endfor %}
),

descriptions as (
    select
        codes.month,
        codes.hs_level,
        codes.hs_code,
        coalesce(
            dim_commodity.hs_description,
            codes.api_description,
            case
                when codes.hs_level = 2
                    then coalesce(chapters.chapter_title, 'Chapter ' || codes.hs_code)
                when codes.hs_level = 4
                    then chapters.chapter_title || ': heading ' || codes.hs_code
                else 'HS ' || codes.hs_code
            end
        ) as hs_description
    from codes
    left join {{ ref('dim_commodity') }} as dim_commodity
        on codes.hs_level = dim_commodity.hs_level
            and codes.hs_code = dim_commodity.hs_code
    left join {{ ref('hs_chapters') }} as chapters
        on left(codes.hs_code, 2) = chapters.hs_chapter
)

select
    rolled_up.month,
    rolled_up.state_code,
    rolled_up.partner_code,
    rolled_up.hs_level::integer as hs_level,
    rolled_up.hs_code,
    descriptions.hs_description,
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
left join descriptions
    on rolled_up.month = descriptions.month
        and rolled_up.hs_level = descriptions.hs_level
        and rolled_up.hs_code = descriptions.hs_code
