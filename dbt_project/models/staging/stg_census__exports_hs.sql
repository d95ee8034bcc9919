with source as (
    select * from {{ source('census', 'census_exports_hs') }}
    -- one commodity level per warehouse build: the level the pipeline extracts
    where hs_level = '{{ var("hs_level") }}'
),

renamed as (
    select
        -- ids
        load_id,
        source as data_source,
        landed_file,
        -- dimensions
        month,
        hs_level,
        partner_code,
        partner_name,
        hs_code,
        hs_description,
        -- values
        all_value_usd as exports_usd,
        -- metadata
        loaded_at
    from source
)

select * from renamed
