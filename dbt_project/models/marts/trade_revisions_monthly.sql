-- Grain: month x individual partner x flow x revision. One row per value a revision
-- changed, read from the vintage snapshot: a revision is a later version of a flow-month
-- (a reload that brought different figures); its first version is the first publication,
-- not a revision. A partner a revision adds has value_before_usd = 0, one it drops has
-- value_after_usd = 0 (its tombstone). load_id_before is the flow-month's version the
-- revision replaced. in_revision_window: the month lies in the window of the latest annual
-- revision (published with the April data of year Y: January Y-3 to March Y) as of the
-- revising load, Y taken from the newest month loaded by then (or in the same run).
with snapshot as (
    select
        flow,
        month,
        country_code,
        country_name,
        country_type,
        value_usd,
        load_id,
        dbt_valid_from as valid_from
    from {{ ref('snap_census__country_values') }}
),

flow_month_versions as (
    select distinct
        flow,
        month,
        load_id,
        valid_from
    from snapshot
),

sequenced_versions as (
    select
        *,
        lag(load_id) over (partition by flow, month order by valid_from, load_id) as previous_load_id
    from flow_month_versions
),

partner_rows as (
    select
        *,
        lag(value_usd) over by_key as previous_value_usd,
        row_number() over by_key as row_number_in_key
    from snapshot
    where country_type = 'partner'
    window by_key as (partition by flow, month, country_code order by valid_from)
),

changes as (
    select
        partner_rows.month,
        partner_rows.country_code as partner_code,
        partner_rows.country_name,
        partner_rows.flow,
        -- a key's first row after the month's first version is a partner the revision added
        case when partner_rows.row_number_in_key = 1 then 0 else partner_rows.previous_value_usd end
            as value_before_usd,
        partner_rows.value_usd as value_after_usd,
        sequenced_versions.previous_load_id as load_id_before,
        partner_rows.load_id as load_id_after,
        partner_rows.valid_from as revised_at
    from partner_rows
    inner join sequenced_versions
        on partner_rows.flow = sequenced_versions.flow
            and partner_rows.month = sequenced_versions.month
            and partner_rows.load_id = sequenced_versions.load_id
    where sequenced_versions.previous_load_id is not null
),

loads as (
    select * from {{ ref('stg_audit__loads') }}
),

revision_context as (
    -- the newest month the warehouse had loaded when (or in the run where) the revision came
    select
        revising.load_id,
        any_value(revising.run_id) as run_id,
        max(loaded.month) as newest_month
    from loads as revising
    inner join loads as loaded
        on loaded.status = 'loaded'
            and (revising.loaded_at >= loaded.loaded_at or revising.run_id = loaded.run_id)
    where revising.load_id in (select changes.load_id_after from changes)
    group by 1
),

april_runs as (
    -- the runs that loaded an April: the annual revision arrives together with April's data
    select distinct
        run_id,
        year(month) as april_year
    from loads
    where status = 'loaded' and month(month) = 4
),

dated as (
    select
        changes.*,
        revision_context.run_id as revising_run_id,
        -- the annual revision comes out with the April data of year Y and reaches back to January Y-3
        year(revision_context.newest_month) - case when month(revision_context.newest_month) >= 4 then 0 else 1 end
            as revision_year
    from changes
    left join revision_context on changes.load_id_after = revision_context.load_id
),

windowed as (
    select
        dated.*,
        -- a reload of a window month by any other run (a re-run, a backfill) is ad hoc: the Census
        -- Bureau does not revise detailed monthly data between annual revisions
        april_runs.run_id is not null as annual_run
    from dated
    left join april_runs
        on dated.revising_run_id = april_runs.run_id and dated.revision_year = april_runs.april_year
),

final as (
    select
        windowed.month,
        windowed.partner_code,
        coalesce(dim_partner.partner_name, windowed.country_name) as partner_name,
        windowed.flow,
        windowed.value_before_usd::bigint as value_before_usd,
        windowed.value_after_usd::bigint as value_after_usd,
        (windowed.value_after_usd - windowed.value_before_usd)::bigint as change_usd,
        round(
            100.0 * (windowed.value_after_usd - windowed.value_before_usd)
            / nullif(windowed.value_before_usd, 0), 4
        )::double as change_pct,
        windowed.load_id_before,
        windowed.load_id_after,
        windowed.revised_at::timestamp as revised_at,
        coalesce(
            windowed.annual_run
            and windowed.month >= make_date(windowed.revision_year - 3, 1, 1)
            and windowed.month < make_date(windowed.revision_year, 4, 1),
            false
        ) as in_revision_window
    from windowed
    left join {{ ref('dim_partner') }} as dim_partner using (partner_code)
    where windowed.value_before_usd <> windowed.value_after_usd
)

select * from final
