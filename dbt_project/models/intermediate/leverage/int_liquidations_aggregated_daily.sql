with

-- The run window only: the previous day's OI comes from int_open_interest_closed_daily, which reads a day more
liquidations_daily as (

    select * from {{ ref('liquidations_daily') }}
    where {{ in_run_window('date') }}

),

venue_day_open_interest as (

    select * from {{ ref('int_open_interest_closed_daily') }}

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

-- Every day with a share has liquidations, so the left join keeps every share
final as (

    select
        daily_liquidations.date,
        daily_liquidations.asset,
        daily_liquidations.liq_long_usd,
        daily_liquidations.liq_short_usd,
        daily_liquidated_oi_share.liq_share_of_oi_pct

    from daily_liquidations
    left join daily_liquidated_oi_share
        on
            daily_liquidations.date = daily_liquidated_oi_share.date
            and daily_liquidations.asset = daily_liquidated_oi_share.asset

)

select * from final
