with source as (
    select * from {{ source('comtrade', 'comtrade_monthly') }}
    -- the totals only: any breakdown would count the same trade twice
    where partner_code = '842'
        and partner2_code = '0'
        and customs_code = 'C00'
        and mot_code = '0'
        and cmd_code = 'TOTAL'
),

renamed as (
    select
        -- ids
        load_id,
        source as data_source,
        -- dimensions
        month,
        reporter_code,
        reporter_name,
        flow_code,
        -- values
        primary_value_usd,
        cif_value_usd,
        fob_value_usd,
        -- metadata
        loaded_at
    from source
)

select * from renamed
