-- Grain: month x HS4 heading x flow x revision, for the world (all partners) as Census
-- publishes the HS4 totals. What each revision changed by product, read from the vintage
-- history (raw.census_values_history, kind hs4) the loader keeps per load: consecutive
-- loaded versions of a flow-month that carry HS4 totals, compared heading by heading.
-- A heading a revision adds has value_before_usd = 0, one it drops value_after_usd = 0.
with history as (
    select * from {{ ref('stg_census__values_history') }}
    where kind = 'hs4'
),

revised_pairs as (
    -- consecutive loaded versions of a flow-month with HS4 totals (int_census__value_versions)
    select
        flow,
        month,
        previous_load_id as load_id_before,
        load_id as load_id_after,
        loaded_at as revised_at
    from {{ ref('int_census__value_versions') }}
    where
        kind = 'hs4'
        and previous_load_id is not null
),

pair_rows as (
    select
        revised_pairs.*,
        history.code,
        history.name,
        0 as is_after,
        history.value_usd
    from revised_pairs
    inner join history on revised_pairs.load_id_before = history.load_id
    union all
    select
        revised_pairs.*,
        history.code,
        history.name,
        1 as is_after,
        history.value_usd
    from revised_pairs
    inner join history on revised_pairs.load_id_after = history.load_id
),

compared as (
    select
        month,
        code as hs_code,
        arg_max(name, is_after) as hs_description,
        flow,
        coalesce(sum(value_usd) filter (where is_after = 0), 0) as value_before_usd,
        coalesce(sum(value_usd) filter (where is_after = 1), 0) as value_after_usd,
        load_id_before,
        load_id_after,
        revised_at
    from pair_rows
    group by month, code, flow, load_id_before, load_id_after, revised_at
),

final as (
    select
        month,
        hs_code,
        hs_description,
        flow,
        value_before_usd::bigint as value_before_usd,
        value_after_usd::bigint as value_after_usd,
        (value_after_usd - value_before_usd)::bigint as change_usd,
        load_id_before,
        load_id_after,
        revised_at::timestamp as revised_at
    from compared
    where value_before_usd <> value_after_usd
)

select * from final
