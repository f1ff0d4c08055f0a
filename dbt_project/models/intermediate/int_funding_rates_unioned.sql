with

binance_funding_rates as (

    select
        venue,
        asset,
        funding_time,
        funding_rate,
        funding_rate_8h,
        funding_interval_hours,
        mark_price

    from {{ ref('stg_binance__funding_rates') }}

),

bybit_funding_rates as (

    select
        venue,
        asset,
        funding_time,
        funding_rate,
        funding_rate_8h,
        funding_interval_hours,
        mark_price

    from {{ ref('stg_bybit__funding_rates') }}

),

okx_funding_rates as (

    select
        venue,
        asset,
        funding_time,
        funding_rate,
        funding_rate_8h,
        funding_interval_hours,
        mark_price

    from {{ ref('stg_okx__funding_rates') }}

),

hyperliquid_funding_rates as (

    select
        venue,
        asset,
        funding_time,
        funding_rate,
        funding_rate_8h,
        funding_interval_hours,
        mark_price

    from {{ ref('stg_hyperliquid__funding_rates') }}

),

unioned as (

    select * from binance_funding_rates
    union all
    select * from bybit_funding_rates
    union all
    select * from okx_funding_rates
    union all
    select * from hyperliquid_funding_rates

)

select * from unioned
