with

source as (

    select * from {{ source('hyperliquid', 'asset_contexts') }}

),

renamed as (

    select
        {{ stage_keys('ts') }}
        funding_rate,
        funding_rate * 8 as funding_rate_8h,  -- the snapshot's rate is hourly
        oi_coin,
        oi_coin * mark_price as oi_usd,
        mark_price,
        oracle_price,
        mid_price,
        premium,
        day_notional_volume_usd

    from source

)

select * from renamed
