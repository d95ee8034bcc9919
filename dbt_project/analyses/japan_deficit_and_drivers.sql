-- Headline question: "What was the U.S. goods deficit with Japan last year, and which
-- commodities drive it?" The partner balance per year, and the five HS4 headings that
-- contribute most to the deficit in the latest full year.
with japan_years as (
    select
        year,
        exports_usd,
        imports_usd,
        balance_usd,
        months_covered
    from {{ ref('trade_balance_annual') }}
    where partner_code = '5880'
),

latest_full_year as (
    select max(year) as year from japan_years
    where months_covered = 12
),

drivers as (
    select
        year,
        hs_code,
        hs_description,
        balance_usd,
        share_of_partner_balance,
        rank_in_partner
    from {{ ref('commodity_balance_annual') }}
    where partner_code = '5880'
        and year = (select latest_full_year.year from latest_full_year)
        and rank_in_partner <= 5
)

select
    drivers.year,
    japan_years.balance_usd as partner_balance_usd,
    drivers.rank_in_partner,
    drivers.hs_code,
    drivers.hs_description,
    drivers.balance_usd as commodity_balance_usd,
    drivers.share_of_partner_balance
from drivers
inner join japan_years using (year)
order by drivers.rank_in_partner
