with source as (
    select * from {{ source('audit', 'loads') }}
),

renamed as (
    select
        -- ids
        load_id,
        run_id,
        -- dimensions
        flow,
        hs_level,
        month,
        status,
        -- timestamps: finished_at is when a loaded version became the warehouse's version
        started_at,
        finished_at as loaded_at
    from source
)

select * from renamed
