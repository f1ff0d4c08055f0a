{%- set venue_models = [
    'stg_binance__klines',
    'stg_bybit__klines',
    'stg_okx__klines',
    'stg_hyperliquid__klines',
] -%}

with

{% for model in venue_models %}
{{ model }} as (

    select
        venue,
        asset,
        ts,
        price_type,
        open,
        high,
        low,
        close,
        volume_coin,
        volume_usd

    from {{ ref(model) }}
    where candle_interval = '1h'

),

{% endfor %}
unioned as (

    {% for model in venue_models %}
        select * from {{ model }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from unioned
