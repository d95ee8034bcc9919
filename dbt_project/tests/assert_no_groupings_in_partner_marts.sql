-- The world total '-' and grouping codes (0xxx, nXXX) never appear in partner marts.
select 'trade_balance_monthly' as model, partner_code from {{ ref('trade_balance_monthly') }}
where partner_code = '-' or partner_code like '0%' or partner_code like '%X'
union all
select 'trade_balance_annual', partner_code from {{ ref('trade_balance_annual') }}
where partner_code = '-' or partner_code like '0%' or partner_code like '%X'
union all
select 'commodity_trade_monthly', partner_code from {{ ref('commodity_trade_monthly') }}
where partner_code = '-' or partner_code like '0%' or partner_code like '%X'
