-- One minute series per measure, venue and asset: the inputs of the lead-lag pairs
with

klines as (

    select * from {{ ref('int_klines_1m_unioned') }}
    where price_type in ('mark', 'last')

),

liquidations as (

    select * from {{ ref('int_liquidations_unioned') }}
    -- CoinGlass rows are hourly aggregates: no minute in them
    where source != 'aggregate'

),

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
        lag(ts) over by_minute as previous_ts,
        lag(close) over by_minute as previous_close

    from preferred_prices
    window by_minute as (partition by venue, asset order by ts)

),

minute_returns as (

    select
        'returns' as measure,
        venue,
        asset,
        ts,
        ln(close / previous_close) as value

    from with_previous
    where previous_ts = ts - interval 1 minute and close > 0 and previous_close > 0

),

minute_liquidations as (

    select
        'liquidations' as measure,
        venue,
        asset,
        date_trunc('minute', ts) as ts,
        sum(notional_usd) as value

    from liquidations
    group by venue, asset, date_trunc('minute', ts)

),

final as (

    select * from minute_returns
    union all
    select * from minute_liquidations

)

select * from final
