-- Grain: kind x flow x month x load. The loaded versions of each flow-month in the vintage
-- history (stg_census__values_history), numbered in load order: the one sequencing of versions
-- that the current-version model (kind country) and the HS4 revisions mart (kind hs4) share.
-- A version is a load that recorded rows of that kind; loads are ordered by when they finished
-- (audit.loads.finished_at), then by load_id so that two loads finishing together stay ordered.
with history as (
    select distinct
        kind,
        flow,
        month,
        load_id
    from {{ ref('stg_census__values_history') }}
),

loads as (
    select
        load_id,
        loaded_at
    from {{ ref('stg_audit__loads') }}
),

versions as (
    select
        history.kind,
        history.flow,
        history.month,
        history.load_id,
        loads.loaded_at
    from history
    inner join loads using (load_id)
),

numbered as (
    select
        kind,
        flow,
        month,
        load_id,
        loaded_at,
        row_number() over by_flow_month as version_number,
        count(*) over (partition by kind, flow, month) as version_count,
        lag(load_id) over by_flow_month as previous_load_id
    from versions
    window by_flow_month as (partition by kind, flow, month order by loaded_at, load_id)
)

select * from numbered
