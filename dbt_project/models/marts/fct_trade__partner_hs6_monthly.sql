-- The trade fact: individual partner x HS6 x month. Balance = exports - general imports.
-- Incremental by month: a month whose exports or imports load changed (a reload, an
-- annual revision) is deleted and rebuilt whole; untouched months are left alone.
-- `dbt build --full-refresh` gives the same table. When the pipeline names the months that
-- changed since the snapshot in service (TRADE_CHANGED_MONTHS, macros/test_scope.sql), only
-- those months' versions are compared, so a night reads one month, not the whole history.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='month',
        on_schema_change='sync_all_columns',
    )
}}

with exports_versions as (
    select distinct
        month,
        load_id
    from {{ ref('stg_census__exports_hs') }}
    {% if is_incremental() %}
        where {{ changed_months_predicate('month') }}
    {% endif %}
),

imports_versions as (
    select distinct
        month,
        load_id
    from {{ ref('stg_census__imports_hs') }}
    {% if is_incremental() %}
        where {{ changed_months_predicate('month') }}
    {% endif %}
),

month_versions as (
    select
        coalesce(exports_versions.month, imports_versions.month) as month,
        exports_versions.load_id as exports_load_id,
        imports_versions.load_id as imports_load_id
    from exports_versions
    full outer join imports_versions
        on exports_versions.month = imports_versions.month
),

months_to_build as (
    select
        month,
        exports_load_id,
        imports_load_id
    from month_versions
    {% if is_incremental() %}
        {% set built_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list %}
        {% if 'exports_load_id' in built_columns %}
            -- except compares NULLs as equal; months already built from these loads are skipped
            except
            select distinct
                month,
                exports_load_id,
                imports_load_id
            from {{ this }}
            where {{ changed_months_predicate('month') }}
        {% endif %}
        -- (a table built before load ids were tracked is rebuilt month by month)
    {% endif %}
),

rows_to_build as (
    select
        trade.month,
        trade.partner_code,
        trade.hs6_code,
        trade.exports_usd,
        trade.imports_usd,
        trade.consumption_imports_usd,
        trade.exports_usd - trade.imports_usd as balance_usd,
        months_to_build.exports_load_id,
        months_to_build.imports_load_id
    from {{ ref('int_trade__partner_hs6_monthly') }} as trade
    inner join months_to_build using (month)
    {% if is_incremental() %}
        -- a literal filter DuckDB pushes through the view's aggregation down to the raw
        -- tables' scans (the join alone made it aggregate the whole history first)
        where {{ changed_months_predicate('trade.month') }}
    {% endif %}
)

select * from rows_to_build
