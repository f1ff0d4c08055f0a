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
        {{ select_list(mart_columns('open_interest')) }}

    from open_interest

)

select * from final
