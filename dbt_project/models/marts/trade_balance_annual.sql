-- Grain: year x individual partner. Sums of the monthly mart; deficit_rank ranks the
-- partners in deficit that year (1 = most negative balance, ties share a rank).
with monthly as (
    select * from {{ ref('trade_balance_monthly') }}
),

annual as (
    select
        year(month)::integer as year,
        partner_code,
        any_value(partner_name) as partner_name,
        any_value(partner_iso2) as partner_iso2,
        sum(exports_usd)::bigint as exports_usd,
        sum(imports_usd)::bigint as imports_usd,
        sum(balance_usd)::bigint as balance_usd,
        count(*)::integer as months_covered
    from monthly
    group by 1, 2
),

ranked as (
    select
        *,
        case
            when balance_usd < 0
                then rank() over (partition by year, balance_usd < 0 order by balance_usd asc)
        end::integer as deficit_rank
    from annual
)

select * from ranked
