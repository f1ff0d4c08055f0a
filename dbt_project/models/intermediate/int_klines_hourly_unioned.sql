with

binance_klines as (

    select
        venue,
        asset,
        ts,
        price_type,
        open,
        high,
        low,
        close,
        volume_coin,
        volume_usd

    from {{ ref('stg_binance__klines') }}
    where candle_interval = '1h'

),

bybit_klines as (

    select
        venue,
        asset,
        ts,
        price_type,
        open,
        high,
        low,
        close,
        volume_coin,
        volume_usd

    from {{ ref('stg_bybit__klines') }}
    where candle_interval = '1h'

),

okx_klines as (

    select
        venue,
        asset,
        ts,
        price_type,
        open,
        high,
        low,
        close,
        volume_coin,
        volume_usd

    from {{ ref('stg_okx__klines') }}
    where candle_interval = '1h'

),

hyperliquid_klines as (

    select
        venue,
        asset,
        ts,
        price_type,
        open,
        high,
        low,
        close,
        volume_coin,
        volume_usd

    from {{ ref('stg_hyperliquid__klines') }}
    where candle_interval = '1h'

),

unioned as (

    select * from binance_klines
    union all
    select * from bybit_klines
    union all
    select * from okx_klines
    union all
    select * from hyperliquid_klines

)

select * from unioned
