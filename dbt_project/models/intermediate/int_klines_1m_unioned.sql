{%- set venues = var('kline_1m_venues') -%}

with

unioned as (

    {{ union_venue_staging('klines_1m', venues, mart_columns('prices_1m')) }}

)

select * from unioned
