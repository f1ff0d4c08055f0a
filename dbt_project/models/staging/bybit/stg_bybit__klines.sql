with

source as (

    select * from {{ source('bybit', 'klines') }}

),

renamed as (

    select
        venue,
        upper(trim(asset)) as asset,
        symbol,
        price_type,
        interval as candle_interval,
        timezone('UTC', open_time) as ts,
        open,
        high,
        low,
        close,
        volume_coin,
        volume_usd,
        trades

    from source

)

select * from renamed
