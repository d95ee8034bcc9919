-- HS2 > HS4 > HS6 commodity codes. HS6 descriptions are the API's (latest month wins);
-- HS2 titles come from the hs_chapters seed; HS4 gets a descriptive label from its chapter.
with hs6_descriptions as (
    select
        left(hs_code, 6) as hs_code,
        arg_max(hs_description, month) as hs_description
    from (
        select hs_code, hs_description, month from {{ ref('stg_census__exports_hs') }}
        union all
        select hs_code, hs_description, month from {{ ref('stg_census__imports_hs') }}
    )
    where length(hs_code) = 6
    group by 1
),

hs6_codes as (
    select distinct hs6_code as hs_code from {{ ref('int_trade__partner_hs6_monthly') }}
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

hs4 as (
    select distinct
        4 as hs_level,
        left(hs6.hs_code, 4) as hs_code,
        chapters.chapter_title || ': heading ' || left(hs6.hs_code, 4) as hs_description
    from hs6
    left join chapters on chapters.hs_chapter = left(hs6.hs_code, 2)
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
    union all
    select * from hs4
    union all
    select * from hs6
)

select
    hs_level,
    hs_code,
    hs_description,
    left(hs_code, 2) as hs_chapter
from unioned
