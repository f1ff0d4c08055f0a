with

binance_long_short_ratios as (

    select
        venue,
        asset,
        ts,
        ratio_type,
        long_share,
        long_short_ratio

    from {{ ref('stg_binance__long_short_ratios') }}

),

bybit_long_short_ratios as (

    select
        venue,
        asset,
        ts,
        ratio_type,
        long_share,
        long_short_ratio

    from {{ ref('stg_bybit__long_short_ratios') }}

),

okx_long_short_ratios as (

    select
        venue,
        asset,
        ts,
        ratio_type,
        long_share,
        long_short_ratio

    from {{ ref('stg_okx__long_short_ratios') }}

),

unioned as (

    select * from binance_long_short_ratios
    union all
    select * from bybit_long_short_ratios
    union all
    select * from okx_long_short_ratios

)

select * from unioned
