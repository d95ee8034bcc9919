-- noqa: disable=LT02
-- (sqlfluff renders the macro's else branch alone and misreads the block's indentation)
{#
    Post-hook of the incremental marts: set each denormalized name column to the dimension's
    current value where it differs (a partner renamed, a commodity re-described by a later
    month). Months an incremental build did not rebuild would otherwise keep the old text,
    and the table would differ from a full refresh. Normally it updates no row.

    The columns are declared once, in the model's YAML (config meta dimension_names: the
    dimension, its keys, the column, an optional filter on the dimension); the publish step
    applies the same declaration to the serving snapshot it patches (trade_warehouse/publish.py).
#}
{% macro refresh_dimension_names() -%}
    {%- set declared = (config.get('meta') or {}).get('dimension_names', []) -%}
    {%- if is_incremental() and declared %}
        {% for item in declared %}
            update {{ this }} as t
            set {{ item.column }} = d.{{ item.column }}
            from (
                select * from {{ ref(item.dimension) }}
                where {{ item.get('filter', 'true') }}
            ) as d
            where
                {% for key in item['keys'] %}
                    t.{{ key }} = d.{{ key }} and
                {% endfor %}
                t.{{ item.column }} is distinct from d.{{ item.column }};
        {% endfor %}
    {% else %}
        select 1 as nothing_to_refresh
    {% endif %}
{% endmacro %}
