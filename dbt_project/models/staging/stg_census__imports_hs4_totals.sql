with source as (
    select * from {{ source('census', 'census_imports_hs4_totals') }}
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
        gen_value_usd as general_imports_usd,
        con_value_usd as consumption_imports_usd,
        -- metadata
        loaded_at
    from source
)

select * from renamed
