{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['snapshot_ts', 'symbol'],
        on_schema_change='append_new_columns',
    )
}}

with

snapshots as (

    select * from {{ ref('stg_deribit__options_snapshots') }}
    where {{ in_run_window('snapshot_ts') }}

),

final as (

    select
        snapshot_ts,
        underlying,
        symbol,
        expiry,
        strike,
        option_type,
        oi_coin,
        oi_usd,
        mark_iv

    from snapshots

)

select * from final
