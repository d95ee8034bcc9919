with source as (
    select * from {{ source('census_history', 'census_values_history') }}
    -- one commodity level per warehouse build: the level the pipeline extracts
    where hs_level = '{{ var("hs_level") }}'
),

renamed as (
    select
        -- ids
        load_id,
        -- dimensions
        flow,
        month,
        kind,
        code,
        name,
        summary_level,
        {{ country_type('code') }} as country_type,
        -- values
        value_usd
    from source
)

select * from renamed
