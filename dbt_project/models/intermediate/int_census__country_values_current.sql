-- Grain: flow x month x Census country code (partners, groupings, world total) ever
-- published for that flow-month. The version of each flow-month that the snapshot
-- records: normally the newest loaded version; during a history replay
-- (var history_step = k) the k-th version, or the last one if the month has fewer.
-- A code published in an earlier version but absent from this one is kept as a
-- tombstone (value 0, is_published false), so a disappearance is a change the snapshot
-- sees with the load's own time instead of a hard delete timed by the dbt run.
{%- set step = var('history_step', none) %}
with history as (
    select * from {{ ref('stg_census__values_history') }}
    where kind = 'country'
),

numbered as (
    -- the versions of each flow-month in load order (int_census__value_versions)
    select
        flow,
        month,
        load_id,
        loaded_at,
        version_number,
        version_count
    from {{ ref('int_census__value_versions') }}
    where kind = 'country'
),

chosen as (
    select * from numbered
    where version_number = {% if step %}least({{ step | int }}, version_count){% else %}version_count{% endif %}
),

codes_so_far as (
    select
        numbered.flow,
        numbered.month,
        history.code as country_code,
        arg_max(history.name, numbered.version_number) as last_name
    from history
    inner join numbered using (load_id)
    inner join chosen
        on numbered.flow = chosen.flow
            and numbered.month = chosen.month
    where numbered.version_number <= chosen.version_number
    group by 1, 2, 3
),

final as (
    select
        codes_so_far.flow,
        codes_so_far.month,
        codes_so_far.country_code,
        coalesce(current_rows.name, codes_so_far.last_name) as country_name,
        {{ country_type('codes_so_far.country_code') }} as country_type,
        coalesce(current_rows.value_usd, 0)::bigint as value_usd,
        current_rows.code is not null as is_published,
        chosen.load_id,
        chosen.loaded_at
    from codes_so_far
    inner join chosen
        on codes_so_far.flow = chosen.flow
            and codes_so_far.month = chosen.month
    left join history as current_rows
        on chosen.load_id = current_rows.load_id
            and codes_so_far.country_code = current_rows.code
)

select * from final
