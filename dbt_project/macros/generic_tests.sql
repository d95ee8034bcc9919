{#- Generic tests written here because dbt hub packages cannot be installed offline. -#}

{% test unique_combination_of_columns(model, combination_of_columns) %}
    select {{ combination_of_columns | join(', ') }}, count(*) as n_rows
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
    having count(*) > 1
{% endtest %}

{% test expression_is_true(model, expression, column_name=none) %}
    select *
    from {{ model }}
    where not ({{ expression }})
{% endtest %}

{% test not_empty(model) %}
    select 1 as empty_table
    where not exists (select 1 from {{ model }})
{% endtest %}
