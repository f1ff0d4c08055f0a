{%- set venue_models = [
    'stg_binance__funding_rates',
    'stg_bybit__funding_rates',
    'stg_okx__funding_rates',
    'stg_hyperliquid__funding_rates',
] -%}

with

{% for model in venue_models %}
{{ model }} as (

    select
        venue,
        asset,
        funding_time,
        funding_rate,
        funding_rate_8h,
        funding_interval_hours,
        mark_price

    from {{ ref(model) }}

),

{% endfor %}
unioned as (

    {% for model in venue_models %}
        select * from {{ model }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from unioned
