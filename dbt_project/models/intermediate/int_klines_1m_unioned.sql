{%- set venues = ['binance', 'bybit', 'okx', 'hyperliquid'] -%}

with

unioned as (

    {{ union_venue_staging('klines_1m', venues, mart_columns('prices_1m')) }}

)

select * from unioned
