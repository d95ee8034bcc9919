-- Months present in the warehouse for both flows: the calendar the rolling measures
-- (year to date, trailing 12 months, year-over-year) are allowed to rely on.
with totals as (
    select
        month,
        'exports' as flow,
        data_source
    from {{ ref('stg_census__exports_totals') }}
    union all
    select
        month,
        'imports' as flow,
        data_source
    from {{ ref('stg_census__imports_totals') }}
),

loaded as (
    select
        month,
        -- 'census-emulator' marks synthetic data: it must never pass for official statistics
        case when bool_or(data_source = 'census-emulator') then 'census-emulator' else 'census' end as data_source
    from totals
    group by month
    having count(distinct flow) = 2
)

select
    month,
    year(month)::integer as year,
    month(month)::integer as month_of_year,
    data_source
from loaded
