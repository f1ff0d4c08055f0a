{#- Hyperliquid publishes no long/short ratios. -#}
{%- set venues = ['binance', 'bybit', 'okx'] -%}

with

unioned as (

    {{ union_venue_staging('long_short_ratios', venues, mart_columns('long_short_ratios')) }}

)

select * from unioned
