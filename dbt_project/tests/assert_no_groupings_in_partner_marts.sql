-- The world total '-' and grouping codes never appear in partner marts (rule: macros/country_type.sql).
{%- set partner_marts = ['trade_balance_monthly', 'trade_balance_annual', 'commodity_trade_monthly'] %}
{% for model in partner_marts %}
    select
        '{{ model }}' as model_name,
        partner_code
    from {{ ref(model) }}
    where {{ country_type('partner_code') }} <> 'partner'
    {% if not loop.last %}union all{% endif %}
{% endfor %}
