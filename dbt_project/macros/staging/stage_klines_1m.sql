{#- A venue's one-minute candles, from a lake klines_1m dataset (every venue shares its Arrow schema). -#}
{% macro stage_klines_1m(source_relation) -%}
with

source as (

    select * from {{ source_relation }}

),

renamed as (

    select
        {{ stage_keys('open_time', 'ts') }}
        price_type,
        open,
        high,
        low,
        close

    from source

)

select * from renamed
{%- endmacro %}
