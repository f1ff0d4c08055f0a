with

source as (

    select * from {{ source('coinglass', 'liquidation_aggregates') }}

),

renamed as (

    select
        venue,
        upper(trim(asset)) as asset,
        exchange,
        -- the lake venue an exchange row stands for; 'all' is the sum over the exchanges CoinGlass was asked for
        lower(trim(exchange)) as covers_venue,
        interval as aggregate_interval,
        timezone('UTC', ts) as ts,
        long_usd,
        short_usd,
        coalesce(long_usd, 0) + coalesce(short_usd, 0) as total_usd

    from source

)

select * from renamed
