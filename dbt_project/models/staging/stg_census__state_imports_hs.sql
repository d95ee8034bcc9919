with source as (
    select * from {{ source('census', 'census_state_imports_hs') }}
    -- one commodity level per warehouse build: the level of the state endpoints
    where hs_level = '{{ var("state_hs_level") }}'
        -- individual states (XX, unidentified, included) x individual partners: the API's
        -- totals over all states ('-') and over all countries ('-') are left out
        and state_code <> '-'
        and partner_code <> '-'
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
        state_code,
        partner_code,
        partner_name,
        hs_code,
        hs_description,
        -- values
        gen_value_usd as general_imports_usd,
        con_value_usd as consumption_imports_usd,
        air_value_usd as air_usd,
        air_weight_kg as air_kg,
        vessel_value_usd as vessel_usd,
        vessel_weight_kg as vessel_kg,
        container_value_usd as container_usd,
        container_weight_kg as container_kg,
        -- metadata
        loaded_at
    from source
)

select * from renamed
