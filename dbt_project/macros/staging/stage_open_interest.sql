{#-
    A venue's open interest readings, from a lake open_interest dataset. extra_columns are venue-specific
    readings (OKX: oi_contracts) kept after oi_coin and oi_usd; a row with no reading at all is dropped.
-#}
{% macro stage_open_interest(source_relation, extra_columns=[]) -%}
{%- set readings = ['oi_coin', 'oi_usd'] + extra_columns -%}
with

source as (

    select * from {{ source_relation }}

),

renamed as (

    select
        {{ stage_keys('ts') }}
        {{ select_list(readings) }}

    from source
    where {{ readings | join(' is not null or ') }} is not null

)

select * from renamed
{%- endmacro %}
