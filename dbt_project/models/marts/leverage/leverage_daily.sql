{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['date', 'asset'],
        on_schema_change='append_new_columns',
    )
}}

{#-
    The daily figures come from the ephemeral steps in models/intermediate/leverage, which read the intermediate
    views over the lake (not the fct tables) from one day before the window: day-over-day changes and returns need
    the previous day, and a ranged run on a fresh warehouse still sees that day. Only the window's days are kept.
-#}

with

daily_venues as (

    select * from {{ ref('int_venues_reported_daily') }}

),

daily_open_interest as (

    select * from {{ ref('int_open_interest_aggregated_daily') }}

),

daily_funding as (

    select * from {{ ref('int_funding_rates_weighted_daily') }}

),

daily_account_share as (

    select * from {{ ref('int_long_short_ratios_pivoted_daily') }}

),

daily_prices as (

    select * from {{ ref('int_prices_aggregated_daily') }}

),

daily_liquidations as (

    select * from {{ ref('int_liquidations_aggregated_daily') }}

),

asset_supply as (

    select * from {{ ref('asset_supply') }}

),

joined as (

    select
        daily_venues.date,
        daily_venues.asset,
        daily_open_interest.oi_coin,
        daily_open_interest.oi_usd,
        coalesce(daily_open_interest.oi_venues, 0) as oi_venues,
        daily_open_interest.oi_usd_change,
        daily_open_interest.oi_usd_change_pct,
        daily_funding.funding_rate_8h_oi_weighted,
        daily_funding.funding_paid_usd,
        daily_account_share.long_account_share_binance,
        daily_account_share.long_account_share_bybit,
        daily_account_share.long_account_share_okx,
        daily_prices.open,
        daily_prices.high,
        daily_prices.low,
        daily_prices.close,
        daily_prices.return_pct,
        daily_prices.price_source,
        asset_supply.circulating_supply * daily_prices.close as market_cap_usd,
        daily_venues.venues_reported

    from daily_venues
    left join daily_open_interest
        on daily_venues.date = daily_open_interest.date and daily_venues.asset = daily_open_interest.asset
    left join daily_funding
        on daily_venues.date = daily_funding.date and daily_venues.asset = daily_funding.asset
    left join daily_account_share
        on daily_venues.date = daily_account_share.date and daily_venues.asset = daily_account_share.asset
    left join daily_prices
        on daily_venues.date = daily_prices.date and daily_venues.asset = daily_prices.asset
    left join asset_supply
        on daily_venues.asset = asset_supply.asset

),

final as (

    select
        joined.*,
        joined.oi_usd / nullif(joined.market_cap_usd, 0) as est_leverage_ratio,
        daily_liquidations.liq_long_usd,
        daily_liquidations.liq_short_usd,
        100 * greatest(daily_liquidations.liq_long_usd, daily_liquidations.liq_short_usd)
        / nullif(least(daily_liquidations.liq_long_usd, daily_liquidations.liq_short_usd), 0) as liq_imbalance_pct,
        daily_liquidations.liq_share_of_oi_pct

    from joined
    left join daily_liquidations
        on joined.date = daily_liquidations.date and joined.asset = daily_liquidations.asset
    where {{ in_run_window('joined.date') }}

)

select * from final
