{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['venue', 'asset', 'ts', 'ratio_type'],
        on_schema_change='append_new_columns',
    )
}}

with

long_short_ratios as (

    select * from {{ ref('int_long_short_ratios_unioned') }}
    where {{ in_run_window('ts') }}

),

final as (

    select
        {{ select_list(mart_columns('long_short_ratios')) }}

    from long_short_ratios

)

select * from final
