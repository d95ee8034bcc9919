-- U.S. states of the state-level marts: the census_states seed (the 50 states and DC, the
-- territories, XX for the unidentified state) with the ISO 3166-2 subdivision code.
with states as (
    select * from {{ ref('census_states') }}
)

select
    state_code,
    fips_code,
    state_name,
    region,
    -- ISO 3166-2 has US-DC and the territories (US-PR, ...); XX is no place
    case when state_code <> 'XX' then 'US-' || state_code end as iso_3166_2,
    region in ('Northeast', 'Midwest', 'South', 'West') as is_state
from states
