-- One row per venue, asset and hour: the price bar (mark where the venue serves it, else traded), the OI at the
-- hour's end (the next hour's reading) and the long share, for the estimated book of liquidation levels.
with

prices as (

    select * from {{ ref('fct_prices_hourly') }}

),

open_interest as (

    select * from {{ ref('fct_open_interest') }}

),

ratios as (

    select * from {{ ref('fct_long_short_ratio') }}
    where ratio_type = 'global_account'

),

bars as (

    select
        venue,
        asset,
        ts,
        high,
        low,
        close

    from prices
    where price_type in ('mark', 'last')
    -- one bar per hour: the mark price where the venue serves it
    qualify row_number() over (partition by venue, asset, ts order by price_type = 'mark' desc) = 1

),

market_share as (

    -- venues without a long/short ratio (Hyperliquid) take the other venues' mean that hour
    select
        asset,
        ts,
        avg(long_share) as long_share

    from ratios
    group by asset, ts

),

final as (

    select
        bars.venue,
        bars.asset,
        bars.ts,
        cast(bars.ts as date) as date,
        bars.high,
        bars.low,
        bars.close,
        open_interest.oi_coin,
        coalesce(ratios.long_share, market_share.long_share) as long_share

    from bars
    left join open_interest
        on
            bars.venue = open_interest.venue
            and bars.asset = open_interest.asset
            and open_interest.ts = bars.ts + interval 1 hour
    left join ratios
        on
            bars.venue = ratios.venue
            and bars.asset = ratios.asset
            and ratios.ts = bars.ts + interval 1 hour
    left join market_share
        on
            bars.asset = market_share.asset
            and market_share.ts = bars.ts + interval 1 hour

)

select * from final
