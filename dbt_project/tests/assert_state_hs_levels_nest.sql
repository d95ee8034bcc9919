-- HS levels nest in state_trade_monthly: every row of a coarser level (HS2, and HS4 below
-- HS6) is the sum of the finest level's rows of its code, for every value and weight, and
-- no coarser row is missing or extra. Checks the months a build changed (macros/test_scope.sql).
-- The mart is read twice from the table, not through a CTE: DuckDB would hold a CTE read
-- twice in memory whole (the full 84-month demo mart is 7.4 M rows).
{%- set levels = hs_levels('state_hs_level') %}
{%- set finest = levels | max %}
{%- set measures = state_trade_measures() %}
{%- set mart -%}
    (select * from {{ ref('state_trade_monthly') }} where {{ changed_months_predicate('month') }})
{%- endset %}

with summed as (
    {%- for level in levels %}
        select
            month,
            state_code,
            partner_code,
            {{ level }} as hs_level,
            {%- for measure in measures %}
                sum({{ measure }}) as {{ measure }},
            {%- endfor %}
            left(hs_code, {{ level }}) as hs_code
        from {{ mart }} as mart
        where hs_level = {{ finest }}
        group by all
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select
    month,
    state_code,
    partner_code,
    hs_level,
    hs_code,
    mart.exports_usd,
    summed.exports_usd as summed_exports_usd,
    mart.imports_usd,
    summed.imports_usd as summed_imports_usd
from {{ mart }} as mart
full outer join summed using (month, state_code, partner_code, hs_level, hs_code)
where
    {%- for measure in measures %}
        mart.{{ measure }} is distinct from summed.{{ measure }}
        {%- if not loop.last %} or{% endif %}
    {%- endfor %}
