{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['date', 'underlying'],
        on_schema_change='append_new_columns',
    )
}}

-- Formulas and choices: options_positioning_daily.yml. The figures come from the ephemeral steps in
-- models/intermediate/options, over the run window's days (int_options_chains_enriched reads the window).

with

totals as (

    select * from {{ ref('int_options_oi_summed') }}

),

top_strikes as (

    select * from {{ ref('int_options_strikes_ranked') }}

),

max_pain as (

    select * from {{ ref('int_options_max_pain_computed') }}

),

skew as (

    select * from {{ ref('int_options_skew_measured') }}

),

final as (

    select
        totals.date,
        totals.underlying,
        totals.snapshot_ts,
        totals.spot_price,
        totals.total_oi_coin,
        totals.total_oi_usd,
        totals.put_oi_coin,
        totals.call_oi_coin,
        totals.put_oi_coin / nullif(totals.call_oi_coin, 0) as put_call_oi_ratio,
        totals.nearest_expiry,
        totals.nearest_put_oi_coin / nullif(totals.nearest_call_oi_coin, 0) as put_call_oi_ratio_nearest_expiry,
        top_strikes.top_put_strike,
        top_strikes.top_put_strike_oi_coin,
        top_strikes.top_call_strike,
        top_strikes.top_call_strike_oi_coin,
        max_pain.max_pain_expiry,
        max_pain.max_pain_strike,
        skew.skew_expiry,
        skew.skew_put_strike,
        skew.skew_call_strike,
        skew.skew_25d_like_vol_pts,
        totals.near_spot_oi_coin / nullif(totals.total_oi_coin, 0) as oi_share_within_10pct

    from totals
    left join top_strikes
        on
            totals.date = top_strikes.date
            and totals.underlying = top_strikes.underlying
    left join max_pain
        on
            totals.date = max_pain.date
            and totals.underlying = max_pain.underlying
    left join skew
        on
            totals.date = skew.date
            and totals.underlying = skew.underlying

)

select * from final
