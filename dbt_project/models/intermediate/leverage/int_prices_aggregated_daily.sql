{#- The run window and the day before it: the day's return needs the previous day's close. -#}
{%- set lookback_days = 1 -%}

with

prices as (

    select * from {{ ref('int_klines_hourly_unioned') }}
    where {{ in_run_window('ts', lookback_days) }}

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

final as (

    select
        daily_prices.date,
        daily_prices.asset,
        daily_prices.open,
        daily_prices.high,
        daily_prices.low,
        daily_prices.close,
        daily_returns.return_pct,
        daily_prices.price_source

    from daily_prices
    left join daily_returns
        on daily_prices.date = daily_returns.date and daily_prices.asset = daily_returns.asset

)

select * from final
