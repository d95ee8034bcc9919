with source as (
    select * from {{ source('census', 'census_imports_totals') }}
    -- one commodity level per warehouse build: the level the pipeline extracts
    where hs_level = '{{ var("hs_level") }}'
),

renamed as (
    select
        -- ids
        load_id,
        source as data_source,
        -- dimensions
        month,
        partner_code,
        partner_name,
        summary_level,
        {{ country_type('partner_code') }} as country_type,
        -- values
        gen_value_usd as general_imports_usd,
        con_value_usd as consumption_imports_usd,
        -- metadata
        loaded_at
    from source
)

select * from renamed
