{#
    Scoping the tests of the month-keyed tables to the months a build changed.

    The pipeline sets TRADE_CHANGED_MONTHS ('YYYY-MM-DD,...', or 'none') when it builds on
    top of a published state with the same dbt project: only those months were loaded since
    that publish, so only their rows can differ from rows that already passed every test.
    A test whose `where` config is the placeholder `__changed_months__` (or
    `__changed_years__` for the annual marts) then checks those months only; without
    it ('all', the default: a first build, a changed project, a rollback, dbt run by hand) it
    checks the whole table. Rows with a NULL month stay in scope, so not_null still bites.
    An environment variable, not a dbt var: it is read at run time only, so a different set
    of months each night does not force dbt to re-parse the project (a changed var would).
#}

{% macro changed_months_predicate(column, years=false) %}
    {% set setting = env_var('TRADE_CHANGED_MONTHS', 'all') | trim %}
    {% if setting == 'all' or (flags is defined and flags.FULL_REFRESH) %}
        true
    {% elif setting == 'none' %}
        {{ column }} is null
    {% else %}
        {% set keys = [] %}
        {% for month in setting.split(',') %}
            {% if years %}
                {% do keys.append((month | trim)[:4]) %}
            {% else %}
                {% do keys.append("date '" ~ (month | trim) ~ "'") %}
            {% endif %}
        {% endfor %}
        ({{ column }} is null or {{ column }} in ({{ keys | unique | join(', ') }}))
    {% endif %}
{% endmacro %}


{% macro get_where_subquery(relation) %}
    {#- dbt's own get_where_subquery, with the two placeholders replaced -#}
    {% set where = config.get('where', '') %}
    {% if where %}
        {% set where = where
            | replace('__changed_months__', changed_months_predicate('month'))
            | replace('__changed_years__', changed_months_predicate('year', years=true)) %}
        {% set filtered %}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {% endset %}
        {% do return(filtered) %}
    {% else %}
        {% do return(relation) %}
    {% endif %}
{% endmacro %}
