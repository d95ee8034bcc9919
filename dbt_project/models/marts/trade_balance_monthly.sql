-- Grain: month x individual partner. Exports, general imports and balance as published
-- (partner totals over all commodities), with year-to-date, trailing-12-month and
-- year-over-year measures computed on a dense partner x loaded-month grid so that a
-- month without trade counts as 0 and a month not loaded makes the measure NULL.
with partner_months as (
    select
        month,
        country_code as partner_code,
        exports_usd,
        imports_usd
    from {{ ref('int_trade__country_totals_monthly') }}
    where country_type = 'partner'
),

loaded_months as (
    select * from {{ ref('dim_month') }}
),

partners as (
    select distinct partner_code from partner_months
),

grid as (
    select
        loaded_months.month,
        loaded_months.year,
        loaded_months.month_of_year,
        partners.partner_code,
        partner_months.partner_code is not null as has_trade,
        coalesce(partner_months.exports_usd, 0)::bigint as exports_usd,
        coalesce(partner_months.imports_usd, 0)::bigint as imports_usd
    from loaded_months
    cross join partners
    left join partner_months
        on loaded_months.month = partner_months.month
            and partners.partner_code = partner_months.partner_code
),

windowed as (
    select
        *,
        exports_usd - imports_usd as balance_usd,
        sum(exports_usd) over year_to_date as exports_ytd_raw,
        sum(imports_usd) over year_to_date as imports_ytd_raw,
        count(*) over year_to_date as months_in_year_to_date,
        sum(exports_usd - imports_usd) over trailing_12 as balance_12m_raw,
        count(*) over trailing_12 as months_in_trailing_12
    from grid
    window
        year_to_date as (
            partition by partner_code, year order by month rows between unbounded preceding and current row
        ),
        trailing_12 as (
            partition by partner_code order by month
            range between interval 11 month preceding and current row
        )
),

with_year_ago as (
    select
        windowed.*,
        year_ago.exports_usd - year_ago.imports_usd as balance_year_ago_usd
    from windowed
    left join grid as year_ago
        on windowed.partner_code = year_ago.partner_code
            and year_ago.month = windowed.month - interval 12 month
),

final as (
    select
        with_year_ago.month,
        with_year_ago.partner_code,
        dim_partner.partner_name,
        dim_partner.partner_iso2,
        with_year_ago.exports_usd,
        with_year_ago.imports_usd,
        with_year_ago.balance_usd,
        case
            when with_year_ago.months_in_year_to_date = with_year_ago.month_of_year then with_year_ago.exports_ytd_raw
        end::bigint as exports_ytd_usd,
        case
            when with_year_ago.months_in_year_to_date = with_year_ago.month_of_year then with_year_ago.imports_ytd_raw
        end::bigint as imports_ytd_usd,
        case
            when
                with_year_ago.months_in_year_to_date = with_year_ago.month_of_year
                then with_year_ago.exports_ytd_raw - with_year_ago.imports_ytd_raw
        end::bigint as balance_ytd_usd,
        case when with_year_ago.months_in_trailing_12 = 12 then with_year_ago.balance_12m_raw end::bigint
            as balance_12m_usd,
        (with_year_ago.balance_usd - with_year_ago.balance_year_ago_usd)::bigint as balance_yoy_change_usd
    from with_year_ago
    left join {{ ref('dim_partner') }} as dim_partner using (partner_code)
    where with_year_ago.has_trade
)

select * from final
