{#- The run window and the day before it, as the other steps of leverage_daily: a settlement at the window's first
    midnight takes the OI reading up to 8 h before it. -#}
{%- set lookback_days = 1 -%}

with

funding_rates as (

    select * from {{ ref('int_funding_rates_unioned') }}
    where {{ in_run_window('funding_time', lookback_days) }}

),

open_interest as (

    select * from {{ ref('int_open_interest_hourly') }}
    where {{ in_run_window('ts', lookback_days) }}

),

venue_day_open_interest as (

    select * from {{ ref('int_open_interest_closed_daily') }}

),

venue_day_funding as (

    select
        venue,
        asset,
        cast(funding_time as date) as date,
        avg(funding_rate_8h) as funding_rate_8h

    from funding_rates
    group by venue, asset, cast(funding_time as date)

),

-- Venues without an OI reading that day cannot be weighted and are left out
daily_funding_oi_weighted as (

    select
        venue_day_funding.date,
        venue_day_funding.asset,
        sum(venue_day_funding.funding_rate_8h * venue_day_open_interest.oi_usd)
        / nullif(sum(venue_day_open_interest.oi_usd), 0) as funding_rate_8h_oi_weighted

    from venue_day_funding
    inner join venue_day_open_interest
        on
            venue_day_funding.venue = venue_day_open_interest.venue
            and venue_day_funding.asset = venue_day_open_interest.asset
            and venue_day_funding.date = venue_day_open_interest.date
    where venue_day_open_interest.oi_usd is not null
    group by venue_day_funding.date, venue_day_funding.asset

),

-- Each settlement pays rate x OI, with the venue's OI reading at or up to 8h before the settlement
funding_payments as (

    select
        funding_rates.asset,
        cast(funding_rates.funding_time as date) as date,
        funding_rates.funding_rate * open_interest.oi_usd as funding_paid_usd

    from funding_rates
    asof inner join open_interest
        on
            funding_rates.venue = open_interest.venue
            and funding_rates.asset = open_interest.asset
            and funding_rates.funding_time >= open_interest.ts
    where funding_rates.funding_time - open_interest.ts <= interval 8 hour

),

daily_funding_paid as (

    select
        date,
        asset,
        sum(funding_paid_usd) as funding_paid_usd

    from funding_payments
    group by date, asset

),

-- Both figures' days are days with a settlement
funding_days as (

    select distinct
        date,
        asset

    from venue_day_funding

),

final as (

    select
        funding_days.date,
        funding_days.asset,
        daily_funding_oi_weighted.funding_rate_8h_oi_weighted,
        daily_funding_paid.funding_paid_usd

    from funding_days
    left join daily_funding_oi_weighted
        on
            funding_days.date = daily_funding_oi_weighted.date
            and funding_days.asset = daily_funding_oi_weighted.asset
    left join daily_funding_paid
        on funding_days.date = daily_funding_paid.date and funding_days.asset = daily_funding_paid.asset

)

select * from final
