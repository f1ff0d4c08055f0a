{#-
    A venue's funding settlements, from a lake funding_rates dataset, with the rate also as an 8h equivalent.
    interval_hours_fallback: SQL for the interval when the venue does not report one (it may read funding_time);
    by default it is derived from the gaps between settlements (macros/funding.sql).
-#}
{% macro stage_funding_rates(source_relation, interval_hours_fallback=none) -%}
with

source as (

    select * from {{ source_relation }}

),

renamed as (

    select
        {{ stage_keys('funding_time') }}
        funding_rate,
        funding_interval_hours as reported_interval_hours,
        mark_price

    from source

),

with_interval as (

    select
        *,
        coalesce(
            reported_interval_hours,
            {{ interval_hours_fallback or derived_funding_interval_hours('funding_time', 'symbol') }}
        ) as funding_interval_hours

    from renamed

),

final as (

    select
        venue,
        asset,
        symbol,
        funding_time,
        funding_rate,
        funding_interval_hours,
        funding_rate * 8 / funding_interval_hours as funding_rate_8h,
        mark_price

    from with_interval

)

select * from final
{%- endmacro %}
