{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['date', 'asset'],
        on_schema_change='append_new_columns',
    )
}}

{#-
    Read one day before the window: day-over-day changes and returns need the previous day. The inputs are the
    intermediate views over the lake, not the fct tables, so a ranged run on a fresh warehouse still sees that day.
-#}
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

asset_supply as (

    select * from {{ ref('asset_supply') }}

),

liquidations_daily as (

    select * from {{ ref('liquidations_daily') }}
    where {{ in_run_window('date') }}

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

daily_venues as (

    select
        date,
        asset,
        string_agg(venue, ',' order by venue) as venues_reported

    from venue_days
    group by date, asset

),

-- Each venue's last OI reading of the day
venue_day_open_interest as (

    select
        venue,
        asset,
        cast(ts as date) as date,
        oi_coin,
        oi_usd

    from open_interest
    qualify row_number() over (partition by venue, asset, cast(ts as date) order by ts desc) = 1

),

daily_open_interest as (

    select
        date,
        asset,
        sum(oi_coin) as oi_coin,
        sum(oi_usd) as oi_usd,
        cast(count(*) as integer) as oi_venues

    from venue_day_open_interest
    group by date, asset

),

-- Only venues that reported on both days count, so a venue joining the data does not look like an OI jump
daily_open_interest_change as (

    select
        today.date,
        today.asset,
        sum(today.oi_usd) - sum(previous_day.oi_usd) as oi_usd_change,
        100 * (sum(today.oi_usd) - sum(previous_day.oi_usd))
        / nullif(sum(previous_day.oi_usd), 0) as oi_usd_change_pct

    from venue_day_open_interest as today
    inner join venue_day_open_interest as previous_day
        on
            today.venue = previous_day.venue
            and today.asset = previous_day.asset
            and today.date - 1 = previous_day.date
    where today.oi_usd is not null and previous_day.oi_usd is not null
    group by today.date, today.asset

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

venue_day_account_share as (

    select
        venue,
        asset,
        cast(ts as date) as date,
        avg(long_share) as long_account_share

    from long_short_ratios
    where ratio_type = 'global_account'
    group by venue, asset, cast(ts as date)

),

daily_account_share as (

    select
        date,
        asset,
        max(case when venue = 'binance' then long_account_share end) as long_account_share_binance,
        max(case when venue = 'bybit' then long_account_share end) as long_account_share_bybit,
        max(case when venue = 'okx' then long_account_share end) as long_account_share_okx

    from venue_day_account_share
    group by date, asset

),

venue_day_prices as (

    select
        venue,
        asset,
        cast(ts as date) as date,
        arg_min(open, ts) as open,
        max(high) as high,
        min(low) as low,
        arg_max(close, ts) as close

    from prices
    where price_type = 'last'
    group by venue, asset, cast(ts as date)

),

-- Reference price: Binance's last-price candles, else the mean over the venues that have candles that day
daily_prices as (

    select
        date,
        asset,
        coalesce(max(case when venue = 'binance' then open end), avg(open)) as open,
        coalesce(max(case when venue = 'binance' then high end), avg(high)) as high,
        coalesce(max(case when venue = 'binance' then low end), avg(low)) as low,
        coalesce(max(case when venue = 'binance' then close end), avg(close)) as close,
        case when bool_or(venue = 'binance') then 'binance' else 'venue_mean' end as price_source

    from venue_day_prices
    group by date, asset

),

daily_returns as (

    select
        today.date,
        today.asset,
        100 * (today.close / nullif(previous_day.close, 0) - 1) as return_pct

    from daily_prices as today
    inner join daily_prices as previous_day
        on
            today.asset = previous_day.asset
            and today.date - 1 = previous_day.date

),

-- Observed liquidations over the venues (Binance's sampled stream counts as observed: a lower bound)
daily_liquidations as (

    select
        date,
        asset,
        sum(long_usd) as liq_long_usd,
        sum(short_usd) as liq_short_usd

    from liquidations_daily
    group by date, asset

),

-- Liquidated USD over the previous day's OI, over the venues with both figures
daily_liquidated_oi_share as (

    select
        liquidations_daily.date,
        liquidations_daily.asset,
        100 * sum(liquidations_daily.total_usd) / nullif(sum(previous_day.oi_usd), 0) as liq_share_of_oi_pct

    from liquidations_daily
    inner join venue_day_open_interest as previous_day
        on
            liquidations_daily.venue = previous_day.venue
            and liquidations_daily.asset = previous_day.asset
            and liquidations_daily.date - 1 = previous_day.date
    where previous_day.oi_usd is not null
    group by liquidations_daily.date, liquidations_daily.asset

),

joined as (

    select
        daily_venues.date,
        daily_venues.asset,
        daily_open_interest.oi_coin,
        daily_open_interest.oi_usd,
        coalesce(daily_open_interest.oi_venues, 0) as oi_venues,
        daily_open_interest_change.oi_usd_change,
        daily_open_interest_change.oi_usd_change_pct,
        daily_funding_oi_weighted.funding_rate_8h_oi_weighted,
        daily_funding_paid.funding_paid_usd,
        daily_account_share.long_account_share_binance,
        daily_account_share.long_account_share_bybit,
        daily_account_share.long_account_share_okx,
        daily_prices.open,
        daily_prices.high,
        daily_prices.low,
        daily_prices.close,
        daily_returns.return_pct,
        daily_prices.price_source,
        asset_supply.circulating_supply * daily_prices.close as market_cap_usd,
        daily_venues.venues_reported

    from daily_venues
    left join daily_open_interest
        on daily_venues.date = daily_open_interest.date and daily_venues.asset = daily_open_interest.asset
    left join daily_open_interest_change
        on
            daily_venues.date = daily_open_interest_change.date
            and daily_venues.asset = daily_open_interest_change.asset
    left join daily_funding_oi_weighted
        on
            daily_venues.date = daily_funding_oi_weighted.date
            and daily_venues.asset = daily_funding_oi_weighted.asset
    left join daily_funding_paid
        on daily_venues.date = daily_funding_paid.date and daily_venues.asset = daily_funding_paid.asset
    left join daily_account_share
        on daily_venues.date = daily_account_share.date and daily_venues.asset = daily_account_share.asset
    left join daily_prices
        on daily_venues.date = daily_prices.date and daily_venues.asset = daily_prices.asset
    left join daily_returns
        on daily_venues.date = daily_returns.date and daily_venues.asset = daily_returns.asset
    left join asset_supply
        on daily_venues.asset = asset_supply.asset

),

final as (

    select
        joined.*,
        joined.oi_usd / nullif(joined.market_cap_usd, 0) as est_leverage_ratio,
        daily_liquidations.liq_long_usd,
        daily_liquidations.liq_short_usd,
        100 * greatest(daily_liquidations.liq_long_usd, daily_liquidations.liq_short_usd)
        / nullif(least(daily_liquidations.liq_long_usd, daily_liquidations.liq_short_usd), 0) as liq_imbalance_pct,
        daily_liquidated_oi_share.liq_share_of_oi_pct

    from joined
    left join daily_liquidations
        on joined.date = daily_liquidations.date and joined.asset = daily_liquidations.asset
    left join daily_liquidated_oi_share
        on joined.date = daily_liquidated_oi_share.date and joined.asset = daily_liquidated_oi_share.asset
    where {{ in_run_window('joined.date') }}

)

select * from final
