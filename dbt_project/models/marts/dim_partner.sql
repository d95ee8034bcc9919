-- Individual trading partners: Census Schedule C code, the API's latest name, ISO codes.
with reference as (
    select * from {{ ref('census_partners') }}
),

latest_api_name as (
    select
        country_code as partner_code,
        arg_max(country_name, month) as api_name
    from {{ ref('int_trade__country_totals_monthly') }}
    where country_type = 'partner'
    group by country_code
),

partners as (
    select
        coalesce(reference.partner_code, latest_api_name.partner_code) as partner_code,
        coalesce(latest_api_name.api_name, reference.partner_name) as partner_name,
        reference.iso2 as partner_iso2,
        reference.iso3 as partner_iso3,
        reference.region,
        reference.m49_code as partner_m49
    from reference
    full outer join latest_api_name using (partner_code)
)

select * from partners
