{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['venue', 'event_key'],
        on_schema_change='append_new_columns',
    )
}}

with

liquidations as (

    select * from {{ ref('int_liquidations_unioned') }}
    where {{ in_run_window('ts') }}

),

final as (

    select
        venue,
        asset,
        ts,
        side,
        price,
        qty_coin,
        notional_usd,
        source,
        coverage,
        event_key

    from liquidations

)

select * from final
