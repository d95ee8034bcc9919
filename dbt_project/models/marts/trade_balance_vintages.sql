-- Grain: month x individual partner ever published for that month. The balance as the
-- month was first published (its first version; a partner absent from it counts 0) next
-- to the current one, with the number of revisions that changed it and when.
-- balance_current_usd - balance_first_published_usd = the sum of its revisions' changes
-- (exports count +, imports -).
with snapshot as (
    select
        flow,
        month,
        country_code as partner_code,
        value_usd,
        dbt_valid_from as valid_from,
        dbt_valid_to as valid_to
    from {{ ref('snap_census__country_values') }}
    where country_type = 'partner'
),

first_versions as (
    -- when each flow-month was first published (over all codes, not only partners)
    select
        flow,
        month,
        min(dbt_valid_from) as first_published_at
    from {{ ref('snap_census__country_values') }}
    group by 1, 2
),

per_flow as (
    select
        snapshot.month,
        snapshot.partner_code,
        snapshot.flow,
        sum(case when snapshot.valid_from = first_versions.first_published_at then snapshot.value_usd else 0 end)
            as first_value_usd,
        sum(case when snapshot.valid_to is null then snapshot.value_usd else 0 end) as current_value_usd,
        min(first_versions.first_published_at) as first_published_at
    from snapshot
    inner join first_versions using (flow, month)
    group by 1, 2, 3
),

per_partner as (
    select
        month,
        partner_code,
        sum(case when flow = 'exports' then first_value_usd else -first_value_usd end) as balance_first_published_usd,
        sum(case when flow = 'exports' then current_value_usd else -current_value_usd end) as balance_current_usd,
        min(first_published_at) as first_published_at
    from per_flow
    group by 1, 2
),

revisions as (
    -- one revision = one run that reloaded the month (its exports and imports loads count once)
    select
        revisions.month,
        revisions.partner_code,
        count(distinct coalesce(loads.run_id, revisions.load_id_after)) as revisions,
        max(revisions.revised_at) as last_revised_at
    from {{ ref('trade_revisions_monthly') }} as revisions
    left join {{ ref('stg_audit__loads') }} as loads on revisions.load_id_after = loads.load_id
    group by 1, 2
),

final as (
    select
        per_partner.month,
        per_partner.partner_code,
        dim_partner.partner_name,
        per_partner.balance_first_published_usd::bigint as balance_first_published_usd,
        per_partner.balance_current_usd::bigint as balance_current_usd,
        (per_partner.balance_current_usd - per_partner.balance_first_published_usd)::bigint as balance_revision_usd,
        coalesce(revisions.revisions, 0)::integer as revisions,
        per_partner.first_published_at::timestamp as first_published_at,
        revisions.last_revised_at::timestamp as last_revised_at
    from per_partner
    left join revisions using (month, partner_code)
    left join {{ ref('dim_partner') }} as dim_partner using (partner_code)
)

select * from final
