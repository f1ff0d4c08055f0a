{#-
    A venue's forced closes, from a lake liquidations dataset (side is already the liquidated position's side).
    coverage says how much of the venue's liquidations the feed carries: complete (every event) or sampled
    (a throttled stream, so any total is a lower bound).
-#}
{% macro stage_liquidations(source_relation, coverage) -%}
{%- if coverage not in ('complete', 'sampled') -%}
    {{ exceptions.raise_compiler_error("stage_liquidations: coverage must be complete or sampled, got " ~ coverage) }}
{%- endif -%}
with

source as (

    select * from {{ source_relation }}

),

renamed as (

    select
        {{ stage_keys('ts') }}
        side,
        price,
        qty_coin,
        notional_usd,
        source,
        '{{ coverage }}' as coverage,
        event_key

    from source

)

select * from renamed
{%- endmacro %}
