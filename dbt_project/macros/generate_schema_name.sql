{#- Use the custom schema name as given (staging, intermediate, marts, reference), so BI
    users see `marts.trade_balance_monthly` rather than `main_marts.trade_balance_monthly`. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
