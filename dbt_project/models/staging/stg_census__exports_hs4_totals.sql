with source as (
    select * from {{ source('census', 'census_exports_hs4_totals') }}
    -- one extraction level per warehouse build: the level the pipeline extracts
    where hs_level = '{{ var("hs_level") }}'
),

renamed as (
    select
        -- ids
        load_id,
        source as data_source,
        -- dimensions
        month,
        hs_code,
        hs_description,
        -- values
        all_value_usd as exports_usd,
        -- metadata
        loaded_at
    from source
)

select * from renamed
