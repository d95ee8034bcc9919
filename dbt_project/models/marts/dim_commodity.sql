-- HS2 > HS4 > HS6 commodity codes. HS6 and HS4 descriptions are the API's own (latest month
-- wins, imports' text on a tie; HS4 from the world x HS4 totals the pipeline extracts each
-- month); HS2 titles come from the hs_chapters seed. A heading the API never described gets a
-- label from its chapter. Levels finer than the extracted one (TRADE_HS_LEVEL) are left out:
-- at HS2 the detail codes are chapters, so only HS2 rows exist (macros/hs_levels.sql).
{%- set levels = hs_levels() %}
with hs6_descriptions as (
    select
        hs_code,
        arg_max(hs_description, strftime(month, '%Y-%m') || flow) as hs_description
    from {{ ref('int_census__hs6_descriptions_monthly') }}
    where hs_description is not null
    group by 1
),

hs4_descriptions as (
    select
        hs_code,
        arg_max(hs_description, strftime(month, '%Y-%m') || flow) as hs_description
    from (
        select
            hs_code,
            hs_description,
            month,
            'exports' as flow
        from {{ ref('stg_census__exports_hs4_totals') }}
        union all
        select
            hs_code,
            hs_description,
            month,
            'imports' as flow
        from {{ ref('stg_census__imports_hs4_totals') }}
    )
    group by 1
),

hs6_codes as (
    -- the codes of the fact (individual partners' rows), without reading the fact
    select distinct hs_code
    from {{ ref('int_census__hs6_descriptions_monthly') }}
    where in_partner_rows
),

chapters as (
    select * from {{ ref('hs_chapters') }}
),

hs6 as (
    select
        6 as hs_level,
        hs6_codes.hs_code,
        coalesce(hs6_descriptions.hs_description, 'HS ' || hs6_codes.hs_code) as hs_description
    from hs6_codes
    left join hs6_descriptions using (hs_code)
),

hs4_codes as (
    select distinct left(hs_code, 4) as hs_code from hs6
),

hs4 as (
    select
        4 as hs_level,
        hs4_codes.hs_code,
        coalesce(
            hs4_descriptions.hs_description,
            chapters.chapter_title || ': heading ' || hs4_codes.hs_code
        ) as hs_description
    from hs4_codes
    left join hs4_descriptions using (hs_code)
    left join chapters on chapters.hs_chapter = left(hs4_codes.hs_code, 2)
),

hs2 as (
    select distinct
        2 as hs_level,
        left(hs6.hs_code, 2) as hs_code,
        coalesce(chapters.chapter_title, 'Chapter ' || left(hs6.hs_code, 2)) as hs_description
    from hs6
    left join chapters on chapters.hs_chapter = left(hs6.hs_code, 2)
),

unioned as (
    select * from hs2
    {%- if 4 in levels %}
        union all
        select * from hs4
    {%- endif %}
    {%- if 6 in levels %}
        union all
        select * from hs6
    {%- endif %}
)

select
    hs_level,
    hs_code,
    hs_description,
    left(hs_code, 2) as hs_chapter
from unioned
