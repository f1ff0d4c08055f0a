{%- set venues = var('long_short_ratio_venues') -%}

with

unioned as (

    {{ union_venue_staging('long_short_ratios', venues, mart_columns('long_short_ratios')) }}

)

select * from unioned
