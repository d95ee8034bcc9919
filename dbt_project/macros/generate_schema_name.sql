{#- Use the custom schema name as given (staging, intermediate, marts, reference), so BI
    users see `marts.trade_balance_monthly` rather than `main_marts.trade_balance_monthly`.
    On the DuckLake backend dbt builds the marts into `marts_build` (TRADE_DBT_MARTS_SCHEMA):
    readers see `marts`, which only the publish step writes, after the contract and the
    marts suite passed (trade_warehouse/publish/lake_publish.py). -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- elif custom_schema_name | trim == 'marts' -%}
        {{ env_var('TRADE_DBT_MARTS_SCHEMA', 'marts') }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
