-- Grain: year x partner, summed from mirror_trade_monthly: the partner mapping, the reporter
-- list and the CIF -> FOB conversion are stated once, there. Both balances are from the U.S.
-- point of view: exports to minus imports from the partner.
with monthly as (
    select * from {{ ref('mirror_trade_monthly') }}
),

annual as (
    select
        year(month)::integer as year,
        partner_code,
        any_value(partner_m49) as partner_m49,
        any_value(partner_name) as partner_name,
        sum(us_exports_usd)::bigint as us_exports_usd,
        sum(partner_imports_cif_usd)::bigint as partner_imports_cif_usd,
        sum(partner_imports_fob_usd)::bigint as partner_imports_fob_usd,
        sum(us_imports_usd)::bigint as us_imports_usd,
        sum(partner_exports_usd)::bigint as partner_exports_usd,
        count(us_exports_usd)::integer as us_months_covered,
        count(*) filter (
            where partner_imports_cif_usd is not null or partner_exports_usd is not null
        )::integer as partner_months_covered,
        -- a flow is compared only when both sides hold exactly the same months of it: U.S.
        -- January-June against partner February-July is a gap in coverage, not an asymmetry
        bool_and((us_exports_usd is null) = (partner_imports_fob_usd is null)) as exports_comparable,
        bool_and((us_imports_usd is null) = (partner_exports_usd is null)) as imports_comparable
    from monthly
    group by year(month), partner_code
),

compared as (
    select
        *,
        (us_exports_usd - us_imports_usd)::bigint as us_reported_balance_usd,
        (partner_imports_fob_usd - partner_exports_usd)::bigint as partner_reported_balance_usd,
        case when exports_comparable then us_exports_usd - partner_imports_fob_usd end::bigint
            as export_asymmetry_usd,
        case when imports_comparable then us_imports_usd - partner_exports_usd end::bigint
            as import_asymmetry_usd
    from annual
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
