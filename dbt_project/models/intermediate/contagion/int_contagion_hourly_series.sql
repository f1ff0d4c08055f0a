-- One hourly series per measure and node (venue:asset): the inputs of the spillover VARs
with

klines as (

    select * from {{ ref('int_klines_hourly_unioned') }}
    where price_type in ('mark', 'last')

),

liquidations as (

    select * from {{ ref('int_liquidations_unioned') }}
    -- CoinGlass hours are aggregates over venues, not one venue's own feed
    where source != 'aggregate'

),

-- one price per venue and asset: mark where the venue serves it, else the traded price
preferred_prices as (

    select
        venue,
        asset,
        ts,
        close

    from klines
    qualify row_number() over (
        partition by venue, asset, ts order by case price_type when 'mark' then 0 else 1 end
    ) = 1

),

with_previous as (

    select
        *,
        lag(ts) over by_hour as previous_ts,
        lag(close) over by_hour as previous_close

    from preferred_prices
    window by_hour as (partition by venue, asset order by ts)

),

hourly_returns as (

    select
        'returns' as measure,
        venue,
        asset,
        ts,
        ln(close / previous_close) as value

    from with_previous
    -- never bridged across a missing hour
    where previous_ts = ts - interval 1 hour and close > 0 and previous_close > 0

),

hourly_liquidations as (

    select
        'liquidations' as measure,
        venue,
        asset,
        date_trunc('hour', ts) as ts,
        ln(1 + sum(notional_usd)) as value

    from liquidations
    group by venue, asset, date_trunc('hour', ts)

),

final as (

    select
        measure,
        venue,
        asset,
        venue || ':' || asset as node,
        ts,
        value
    from hourly_returns

    union all

    select
        measure,
        venue,
        asset,
        venue || ':' || asset as node,
        ts,
        value
    from hourly_liquidations

)

select * from final
