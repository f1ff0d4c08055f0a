with

source as (

    select * from {{ source('bybit', 'open_interest') }}

),

renamed as (

    select
        venue,
        upper(trim(asset)) as asset,
        symbol,
        timezone('UTC', ts) as ts,
        oi_coin,
        -- Bybit's history has coins only; int_open_interest_hourly prices it from the hour's kline
        oi_usd

    from source
    where oi_coin is not null or oi_usd is not null

)

select * from renamed
