-- Grain: year x partner, for the partners whose own reports come from UN Comtrade
-- (TRADE_COMTRADE_REPORTERS) and any other partner with Comtrade rows loaded.
-- Both balances are from the U.S. point of view: exports to minus imports from the partner.
{%- set fob_factor = var('mirror_fob_factor') | float %}
{%- set reporters = var('mirror_reporters').split(',') %}
with partners as (
    -- Census code <-> M49 through the partner dimension; an M49 code shared by two Census
    -- codes (Gaza / West Bank, the two Sudans) cannot be split, so it is left out
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
        year(month)::integer as year,
        reporter_code as partner_m49,
        sum(primary_value_usd) filter (where flow_code = 'M') as imports_cif_usd,
        sum(primary_value_usd) filter (where flow_code = 'X') as exports_usd,
        count(distinct month)::integer as months_covered
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
        annual.year,
        mirror_partners.partner_code,
        annual.exports_usd,
        annual.imports_usd,
        annual.months_covered
    from {{ ref('trade_balance_annual') }} as annual
    inner join mirror_partners using (partner_code)
),

partner_side as (
    select
        partner_reports.year,
        mirror_partners.partner_code,
        round(partner_reports.imports_cif_usd)::bigint as imports_cif_usd,
        round(partner_reports.imports_cif_usd / {{ fob_factor }})::bigint as imports_fob_usd,
        round(partner_reports.exports_usd)::bigint as exports_usd,
        partner_reports.months_covered
    from partner_reports
    inner join mirror_partners using (partner_m49)
),

joined as (
    select
        coalesce(us_side.year, partner_side.year)::integer as year,
        coalesce(us_side.partner_code, partner_side.partner_code) as partner_code,
        us_side.exports_usd as us_exports_usd,
        partner_side.imports_cif_usd as partner_imports_cif_usd,
        partner_side.imports_fob_usd as partner_imports_fob_usd,
        us_side.imports_usd as us_imports_usd,
        partner_side.exports_usd as partner_exports_usd,
        coalesce(us_side.months_covered, 0)::integer as us_months_covered,
        coalesce(partner_side.months_covered, 0)::integer as partner_months_covered
    from us_side
    full outer join partner_side
        on us_side.year = partner_side.year and us_side.partner_code = partner_side.partner_code
),

compared as (
    select
        joined.year,
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
        -- asymmetries only where both sides cover the same months: 12 U.S. months against
        -- 9 reported ones is a gap in coverage, not a statistical asymmetry
        case
            when joined.us_months_covered = joined.partner_months_covered
                then joined.us_exports_usd - joined.partner_imports_fob_usd
        end::bigint as export_asymmetry_usd,
        case
            when joined.us_months_covered = joined.partner_months_covered
                then joined.us_imports_usd - joined.partner_exports_usd
        end::bigint as import_asymmetry_usd,
        joined.us_months_covered,
        joined.partner_months_covered
    from joined
    inner join mirror_partners using (partner_code)
),

final as (
    select
        year,
        partner_code,
        partner_m49,
        partner_name,
        us_exports_usd,
        partner_imports_cif_usd,
        partner_imports_fob_usd,
        us_imports_usd,
        partner_exports_usd,
        us_reported_balance_usd,
        partner_reported_balance_usd,
        export_asymmetry_usd,
        round(100.0 * export_asymmetry_usd / nullif(us_exports_usd, 0), 2)::double as export_asymmetry_pct,
        import_asymmetry_usd,
        round(100.0 * import_asymmetry_usd / nullif(us_imports_usd, 0), 2)::double as import_asymmetry_pct,
        us_months_covered,
        partner_months_covered
    from compared
)

select * from final
