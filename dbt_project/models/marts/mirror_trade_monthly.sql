-- Grain: month x partner, for the same partners as mirror_trade_annual. Monthly mirror
-- asymmetries are noisy by nature: goods in transit at a month end fall in different
-- months on the two sides. Asymmetries are NULL where either side has no data that month.
{%- set fob_factor = var('mirror_fob_factor') | float %}
{%- set reporters = var('mirror_reporters').split(',') %}
with partners as (
    select
        partner_code,
        partner_m49,
        partner_name
    from {{ ref('dim_partner') }}
    where partner_m49 is not null
    qualify count(*) over (partition by partner_m49) = 1
),

partner_reports as (
    select
        month,
        reporter_code as partner_m49,
        -- most reporters value imports CIF (cifvalue); a few value them FOB (fobvalue, no cifvalue):
        -- their FOB figure is taken as reported, never divided by the factor a second time
        sum(coalesce(cif_value_usd, case when fob_value_usd is null then primary_value_usd end))
        filter (where flow_code = 'M') as imports_cif_usd,
        sum(fob_value_usd) filter (where flow_code = 'M') as imports_fob_reported_usd,
        sum(primary_value_usd) filter (where flow_code = 'X') as exports_usd
    from {{ ref('stg_comtrade__monthly') }}
    group by 1, 2
),

mirror_partners as (
    select *
    from partners
    where
        partner_m49 in (
            {%- for code in reporters %}'{{ code | trim }}'{{ ', ' if not loop.last }}{% endfor -%}
        )
        or partner_m49 in (select partner_reports.partner_m49 from partner_reports)
),

us_side as (
    select
        monthly.month,
        mirror_partners.partner_code,
        monthly.exports_usd,
        monthly.imports_usd
    from {{ ref('trade_balance_monthly') }} as monthly
    inner join mirror_partners using (partner_code)
),

partner_side as (
    select
        partner_reports.month,
        mirror_partners.partner_code,
        round(partner_reports.imports_cif_usd)::bigint as imports_cif_usd,
        round(
            coalesce(partner_reports.imports_fob_reported_usd, partner_reports.imports_cif_usd / {{ fob_factor }})
        )::bigint as imports_fob_usd,
        round(partner_reports.exports_usd)::bigint as exports_usd
    from partner_reports
    inner join mirror_partners using (partner_m49)
),

joined as (
    select
        coalesce(us_side.month, partner_side.month) as month,
        coalesce(us_side.partner_code, partner_side.partner_code) as partner_code,
        us_side.exports_usd as us_exports_usd,
        partner_side.imports_cif_usd as partner_imports_cif_usd,
        partner_side.imports_fob_usd as partner_imports_fob_usd,
        us_side.imports_usd as us_imports_usd,
        partner_side.exports_usd as partner_exports_usd
    from us_side
    full outer join partner_side
        on us_side.month = partner_side.month and us_side.partner_code = partner_side.partner_code
),

final as (
    select
        joined.month,
        joined.partner_code,
        mirror_partners.partner_m49,
        mirror_partners.partner_name,
        joined.us_exports_usd,
        joined.partner_imports_cif_usd,
        joined.partner_imports_fob_usd,
        joined.us_imports_usd,
        joined.partner_exports_usd,
        (joined.us_exports_usd - joined.us_imports_usd)::bigint as us_reported_balance_usd,
        (joined.partner_imports_fob_usd - joined.partner_exports_usd)::bigint as partner_reported_balance_usd,
        (joined.us_exports_usd - joined.partner_imports_fob_usd)::bigint as export_asymmetry_usd,
        round(
            100.0 * (joined.us_exports_usd - joined.partner_imports_fob_usd) / nullif(joined.us_exports_usd, 0), 2
        )::double as export_asymmetry_pct,
        (joined.us_imports_usd - joined.partner_exports_usd)::bigint as import_asymmetry_usd,
        round(
            100.0 * (joined.us_imports_usd - joined.partner_exports_usd) / nullif(joined.us_imports_usd, 0), 2
        )::double as import_asymmetry_pct
    from joined
    inner join mirror_partners using (partner_code)
)

select * from final
