{%- set venues = var('funding_rate_venues') -%}

with

unioned as (

    {{ union_venue_staging('funding_rates', venues, mart_columns('funding_rates')) }}

)

select * from unioned
