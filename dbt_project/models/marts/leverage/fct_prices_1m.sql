{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['venue', 'asset', 'ts', 'price_type'],
        on_schema_change='append_new_columns',
    )
}}

with

-- a day before the window too: the window's first minute takes its return from the minute before it
klines as (

    select * from {{ ref('int_klines_1m_unioned') }}
    where {{ in_run_window('ts', lookback_days=1) }}

),

with_previous as (

    select
        *,
        lag(ts) over by_minute as previous_ts,
        lag(close) over by_minute as previous_close

    from klines
    window by_minute as (partition by venue, asset, price_type order by ts)

),

final as (

    select
        {{ select_list(mart_columns('prices_1m')) }},
        case
            when previous_ts = ts - interval 1 minute then ln(close / previous_close)
        end as log_return

    from with_previous
    where {{ in_run_window('ts') }}

)

select * from final
