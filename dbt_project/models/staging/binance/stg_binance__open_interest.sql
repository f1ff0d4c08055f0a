with

source as (

    select * from {{ source('binance', 'open_interest') }}

),

renamed as (

    select
        venue,
        upper(trim(asset)) as asset,
        symbol,
        timezone('UTC', ts) as ts,
        oi_coin,
        oi_usd

    from source
    where oi_coin is not null or oi_usd is not null

)

select * from renamed
