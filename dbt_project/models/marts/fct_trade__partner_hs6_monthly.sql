-- The trade fact: individual partner x HS6 x month. Balance = exports - general imports.
select
    month,
    partner_code,
    hs6_code,
    exports_usd,
    imports_usd,
    consumption_imports_usd,
    exports_usd - imports_usd as balance_usd
from {{ ref('int_trade__partner_hs6_monthly') }}
