{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['venue', 'asset', 'ts'],
        on_schema_change='append_new_columns',
    )
}}

with

open_interest as (

    select * from {{ ref('int_open_interest_hourly') }}
    where {{ in_run_window('ts') }}

),

final as (

    select
        venue,
        asset,
        ts,
        oi_coin,
        oi_usd

    from open_interest

)

select * from final
