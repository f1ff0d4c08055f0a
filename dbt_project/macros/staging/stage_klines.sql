{#- A venue's candles, from a lake klines dataset (every venue shares its Arrow schema). -#}
{% macro stage_klines(source_relation) -%}
with

source as (

    select * from {{ source_relation }}

),

renamed as (

    select
        {{ stage_keys() }}
        price_type,
        interval as candle_interval,
        timezone('UTC', open_time) as ts,
        open,
        high,
        low,
        close,
        volume_coin,
        volume_usd,
        trades

    from source

)

select * from renamed
{%- endmacro %}
