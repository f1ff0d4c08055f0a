{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['venue', 'asset', 'ts', 'price_type'],
        on_schema_change='append_new_columns',
    )
}}

with

klines as (

    select * from {{ ref('int_klines_hourly_unioned') }}
    where {{ in_run_window('ts') }}

),

final as (

    select
        {{ select_list(mart_columns('prices_hourly')) }}

    from klines

)

select * from final
