-- The world total '-' and grouping codes never appear in partner marts (rule: macros/country_type.sql).
-- The large commodity mart is checked in the months a build changed (macros/test_scope.sql).
{%- set partner_marts = {
    'trade_balance_monthly': 'true',
    'trade_balance_annual': 'true',
    'commodity_trade_monthly': changed_months_predicate('month'),
} %}
{% for model, scope in partner_marts.items() %}
    select
        '{{ model }}' as model_name,
        partner_code
    from {{ ref(model) }}
    where {{ country_type('partner_code') }} <> 'partner' and {{ scope }}
    {% if not loop.last %}union all{% endif %}
{% endfor %}
