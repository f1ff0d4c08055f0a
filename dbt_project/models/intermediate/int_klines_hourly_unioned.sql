{%- set venues = var('kline_hourly_venues') -%}

with

unioned as (

    {{ union_venue_staging('klines', venues, mart_columns('prices_hourly'), where="candle_interval = '1h'") }}

)

select * from unioned
