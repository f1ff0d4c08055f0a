{#- The run window and the day before it, as the other steps of leverage_daily. -#}
{%- set lookback_days = 1 -%}

with

open_interest as (

    select * from {{ ref('int_open_interest_hourly') }}
    where {{ in_run_window('ts', lookback_days) }}

),

funding_rates as (

    select * from {{ ref('int_funding_rates_unioned') }}
    where {{ in_run_window('funding_time', lookback_days) }}

),

long_short_ratios as (

    select * from {{ ref('int_long_short_ratios_unioned') }}
    where {{ in_run_window('ts', lookback_days) }}

),

prices as (

    select * from {{ ref('int_klines_hourly_unioned') }}
    where {{ in_run_window('ts', lookback_days) }}

),

-- Which venues had any data for the asset that day
venue_days as (

    select
        venue,
        asset,
        cast(ts as date) as date
    from open_interest

    union

    select
        venue,
        asset,
        cast(funding_time as date) as date
    from funding_rates

    union

    select
        venue,
        asset,
        cast(ts as date) as date
    from long_short_ratios

    union

    select
        venue,
        asset,
        cast(ts as date) as date
    from prices

),

final as (

    select
        date,
        asset,
        string_agg(venue, ',' order by venue) as venues_reported

    from venue_days
    group by date, asset

)

select * from final
