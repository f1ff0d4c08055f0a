{%- set venue_models = [
    'stg_binance__long_short_ratios',
    'stg_bybit__long_short_ratios',
    'stg_okx__long_short_ratios',
] -%}

with

{% for model in venue_models %}
{{ model }} as (

    select
        venue,
        asset,
        ts,
        ratio_type,
        long_share,
        long_short_ratio

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
