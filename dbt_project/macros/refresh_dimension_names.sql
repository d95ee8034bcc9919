-- noqa: disable=LT02
-- (sqlfluff renders the macro's else branch alone and misreads the block's indentation)
{#
    Post-hook of the incremental marts: keep the name columns they copy from a dimension
    current in the months an incremental build did not rebuild (a partner renamed, a commodity
    re-described by a later month); otherwise the table would differ from a full refresh.

    The columns are declared once, in the model's YAML (config meta dimension_names: the
    dimension, its keys, the column, an optional filter on the dimension). For each, the names
    last applied are kept in `<model>__names_<n>` (a few thousand rows). Only keys whose name
    differs from those are updated in the mart, so a night without renames reads no history;
    the publish step does the same for the serving snapshot it patches
    (trade_warehouse/publish/candidate.py).
    The hook runs in the model's transaction: the mart and its names table change together.
#}
{% macro refresh_dimension_names() %}
    {%- set declared = (config.get('meta') or {}).get('dimension_names', []) -%}
    {%- for item in declared %}
        {%- set names = this.incorporate(path={'identifier': this.identifier ~ '__names_' ~ loop.index}) -%}
        {%- set current -%}
            select {{ item['keys'] | join(', ') }}, {{ item.column }}
            from {{ ref(item.dimension) }}
            where {{ item.get('filter', 'true') }}
        {%- endset -%}
        {%- set applied = adapter.get_relation(
            database=names.database, schema=names.schema, identifier=names.identifier) -%}
        {%- if is_incremental() and applied is not none -%}
            {%- set changed -%}
                {{ current }}
                except
                select {{ item['keys'] | join(', ') }}, {{ item.column }} from {{ names }}
            {%- endset -%}
            {%- set count = run_query('select count(*) from (' ~ changed ~ ')').columns[0].values()[0] if execute else 0 -%}
            {%- if count > 0 %}
                update {{ this }} as t
                set {{ item.column }} = d.{{ item.column }}
                from ({{ changed }}) as d
                where
                    {% for key in item['keys'] -%}
                        t.{{ key }} = d.{{ key }} and
                    {% endfor -%}
                    t.{{ item.column }} is distinct from d.{{ item.column }};
            {%- endif %}
        {%- endif %}
        create or replace table {{ names }} as {{ current }};
    {%- endfor %}
    {%- if not declared %}
        select 1 as nothing_to_refresh
    {%- endif %}
{% endmacro %}
