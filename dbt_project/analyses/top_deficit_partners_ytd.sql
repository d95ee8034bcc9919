-- Headline question: "Who are the ten largest deficit partners this year to date, and
-- how did that change?" Year-to-date balances at the latest loaded month, with the same
-- period of the previous year and the change.
with latest as (
    select max(month) as month from {{ ref('trade_balance_monthly') }}
),

this_year as (
    select
        partner_code,
        partner_name,
        balance_ytd_usd
    from {{ ref('trade_balance_monthly') }}
    where month = (select latest.month from latest) and balance_ytd_usd < 0
),

last_year as (
    select
        partner_code,
        balance_ytd_usd
    from {{ ref('trade_balance_monthly') }}
    where month = (select latest.month - interval 12 month from latest)
),

ranked as (
    select
        this_year.partner_code,
        this_year.partner_name,
        this_year.balance_ytd_usd,
        last_year.balance_ytd_usd as balance_ytd_year_ago_usd,
        this_year.balance_ytd_usd - last_year.balance_ytd_usd as change_usd,
        rank() over (order by this_year.balance_ytd_usd) as deficit_rank
    from this_year
    left join last_year using (partner_code)
)

select * from ranked
where deficit_rank <= 10
order by deficit_rank
