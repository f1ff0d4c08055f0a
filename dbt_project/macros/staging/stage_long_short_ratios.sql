{#- A venue's long/short ratios, from a lake long_short_ratios dataset. -#}
{% macro stage_long_short_ratios(source_relation) -%}
with

source as (

    select * from {{ source_relation }}

),

renamed as (

    select
        {{ stage_keys('ts') }}
        ratio_type,
        -- venues report either the long share or long/short; each follows from the other
        coalesce(long_share, long_short_ratio / (1 + long_short_ratio)) as long_share,
        coalesce(long_short_ratio, long_share / nullif(1 - long_share, 0)) as long_short_ratio

    from source

),

final as (

    select * from renamed
    where long_share is not null

)

select * from final
{%- endmacro %}
