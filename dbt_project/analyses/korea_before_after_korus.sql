-- Headline question: "Has the deficit with South Korea doubled since the KORUS agreement
-- took effect (March 2012)?" Annual balances with Korea, compared with 2011, the last
-- full year before KORUS.
with korea as (
    select
        year,
        exports_usd,
        imports_usd,
        balance_usd,
        months_covered
    from {{ ref('trade_balance_annual') }}
    where partner_code = '5800'
),

baseline as (
    select balance_usd as balance_2011_usd from korea
    where year = 2011 and months_covered = 12
)

select
    korea.year,
    korea.exports_usd,
    korea.imports_usd,
    korea.balance_usd,
    korea.months_covered,
    korea.balance_usd / nullif(baseline.balance_2011_usd, 0) as deficit_ratio_to_2011
from korea
cross join baseline
order by korea.year
