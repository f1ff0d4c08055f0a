{%- set venues = ['binance', 'bybit', 'okx', 'hyperliquid', 'deribit'] -%}

with

unioned as (

    {{ union_venue_staging('funding_rates', venues, mart_columns('funding_rates')) }}

)

select * from unioned
