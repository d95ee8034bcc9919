{#- The additive columns of the state marts (fct_trade__state_partner_hs_monthly,
    state_trade_monthly): values and shipping weights by flow and mode. One list, so the
    mart's roll-up and the test that the HS levels nest sum the same columns. -#}
{% macro state_trade_measures() -%}
    {{ return([
        'exports_usd', 'imports_usd',
        'export_air_usd', 'export_air_kg', 'export_vessel_usd', 'export_vessel_kg',
        'export_container_usd', 'export_container_kg',
        'import_air_usd', 'import_air_kg', 'import_vessel_usd', 'import_vessel_kg',
        'import_container_usd', 'import_container_kg',
    ]) }}
{%- endmacro %}
