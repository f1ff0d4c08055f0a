with

source as (

    select * from {{ source('deribit', 'options_snapshots') }}

),

renamed as (

    select
        {{ stage_keys('ts', 'snapshot_ts') }}
        asset as underlying,
        timezone('UTC', expiry) as expiry,
        strike,
        option_type,
        open_interest_coin as oi_coin,
        -- inverse options are quoted in coin: one option is one coin, valued at the expiry's forward
        open_interest_coin * underlying_price as oi_usd,
        mark_price as mark_price_coin,
        mark_price * underlying_price as mark_price_usd,
        mark_iv,
        underlying_price,
        volume as volume_coin

    from source

)

select * from renamed
