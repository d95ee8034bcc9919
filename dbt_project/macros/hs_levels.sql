{#- The commodity levels of the commodity marts (dim_commodity, commodity_trade_monthly):
    HS2, HS4 and HS6, down to the level the pipeline extracts (var hs_level, TRADE_HS_LEVEL).
    At HS2 the detail codes have two digits, so only HS2 rows exist; HS10 rolls up to HS6.
    The state marts pass level_var='state_hs_level' (TRADE_STATE_HS_LEVEL: HS2, HS4 or HS6).
    Anything that is not HS<digits> (sqlfluff's stand-in var) counts as HS6. -#}
{% macro hs_levels(level_var='hs_level') -%}
    {%- set level = (var(level_var) | string | upper) -%}
    {%- set digits = level[2:] | int if level[:2] == 'HS' and level[2:] | int > 0 else 6 -%}
    {{ return([2, 4, 6] | select('le', digits) | list) }}
{%- endmacro %}
