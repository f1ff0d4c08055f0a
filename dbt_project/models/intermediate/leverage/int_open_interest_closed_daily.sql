{#- The run window and the day before it: leverage_daily's day-over-day figures need the previous day. -#}
{%- set lookback_days = 1 -%}

with

open_interest as (

    select * from {{ ref('int_open_interest_hourly') }}
    where {{ in_run_window('ts', lookback_days) }}

),

-- Each venue's last OI reading of the day
final as (

    select
        venue,
        asset,
        cast(ts as date) as date,
        oi_coin,
        oi_usd

    from open_interest
    qualify row_number() over (partition by venue, asset, cast(ts as date) order by ts desc) = 1

)

select * from final
