{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['venue', 'asset', 'funding_time'],
        on_schema_change='append_new_columns',
    )
}}

with

funding_rates as (

    select * from {{ ref('int_funding_rates_unioned') }}
    where {{ in_run_window('funding_time') }}

),

final as (

    select
        {{ select_list(mart_columns('funding_rates')) }}

    from funding_rates

)

select * from final
