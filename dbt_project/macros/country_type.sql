{#- Classify a Census CTY_CODE. The world total '-' is published with SUMMARY_LVL = DET, so
    the code, not SUMMARY_LVL, decides: '-' world total; 0xxx or nXXX grouping; else partner. -#}
{% macro country_type(code_column) -%}
    case
        when {{ code_column }} = '-' then 'world_total'
        when {{ code_column }} like '0%' or {{ code_column }} like '%X' then 'grouping'
        else 'partner'
    end
{%- endmacro %}
