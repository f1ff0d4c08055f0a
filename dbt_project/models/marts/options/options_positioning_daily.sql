{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['date', 'underlying'],
        on_schema_change='append_new_columns',
    )
}}

-- Formulas and choices: options_positioning_daily.yml.

with

snapshots as (

    select * from {{ ref('stg_deribit__options_snapshots') }}
    where
        {{ in_run_window('snapshot_ts') }}
        and oi_coin is not null

),

last_snapshot as (

    select
        underlying,
        cast(snapshot_ts as date) as date,
        max(snapshot_ts) as snapshot_ts

    from snapshots
    group by underlying, cast(snapshot_ts as date)

),

chain as (

    select
        last_snapshot.date,
        snapshots.*

    from snapshots
    inner join last_snapshot
        on
            snapshots.underlying = last_snapshot.underlying
            and snapshots.snapshot_ts = last_snapshot.snapshot_ts

),

expiries as (

    select
        date,
        underlying,
        min(expiry) as nearest_expiry,
        -- monthlies (and quarterlies) expire on the month's last Friday
        min(expiry) filter (
            where dayofweek(expiry) = 5 and month(expiry + interval 7 day) <> month(expiry)
        ) as nearest_monthly_expiry

    from chain
    group by date, underlying

),

spot as (

    -- spot: the nearest expiry's underlying price (its forward is within hours of the index)
    select
        chain.date,
        chain.underlying,
        avg(chain.underlying_price) as spot_price

    from chain
    inner join expiries
        on
            chain.date = expiries.date
            and chain.underlying = expiries.underlying
            and chain.expiry = expiries.nearest_expiry
    group by chain.date, chain.underlying

),

enriched as (

    select
        chain.*,
        expiries.nearest_expiry,
        expiries.nearest_monthly_expiry,
        spot.spot_price

    from chain
    inner join expiries
        on
            chain.date = expiries.date
            and chain.underlying = expiries.underlying
    inner join spot
        on
            chain.date = spot.date
            and chain.underlying = spot.underlying

),

totals as (

    select
        date,
        underlying,
        any_value(snapshot_ts) as snapshot_ts,
        any_value(spot_price) as spot_price,
        any_value(nearest_expiry) as nearest_expiry,
        sum(oi_coin) as total_oi_coin,
        sum(oi_usd) as total_oi_usd,
        coalesce(sum(oi_coin) filter (where option_type = 'put'), 0) as put_oi_coin,
        coalesce(sum(oi_coin) filter (where option_type = 'call'), 0) as call_oi_coin,
        coalesce(
            sum(oi_coin) filter (where option_type = 'put' and expiry = nearest_expiry), 0
        ) as nearest_put_oi_coin,
        coalesce(
            sum(oi_coin) filter (where option_type = 'call' and expiry = nearest_expiry), 0
        ) as nearest_call_oi_coin,
        coalesce(
            sum(oi_coin) filter (where strike between 0.9 * spot_price and 1.1 * spot_price), 0
        ) as near_spot_oi_coin

    from enriched
    group by date, underlying

),

strike_oi_ranked as (

    select
        date,
        underlying,
        option_type,
        strike,
        sum(oi_coin) as oi_coin,
        row_number() over (
            partition by date, underlying, option_type order by sum(oi_coin) desc, strike
        ) as oi_rank

    from chain
    group by date, underlying, option_type, strike

),

top_strikes as (

    select
        date,
        underlying,
        any_value(strike) filter (where option_type = 'put') as top_put_strike,
        any_value(oi_coin) filter (where option_type = 'put') as top_put_strike_oi_coin,
        any_value(strike) filter (where option_type = 'call') as top_call_strike,
        any_value(oi_coin) filter (where option_type = 'call') as top_call_strike_oi_coin

    from strike_oi_ranked
    where oi_rank = 1
    group by date, underlying

),

monthly_chain as (

    select *
    from enriched
    where expiry = nearest_monthly_expiry

),

max_pain_candidates as (

    select distinct
        date,
        underlying,
        expiry,
        strike

    from monthly_chain

),

max_pain_payouts as (

    -- holders' payout if the monthly settles at each of its strikes
    select
        candidates.date,
        candidates.underlying,
        candidates.expiry,
        candidates.strike as settlement,
        sum(
            case
                when legs.option_type = 'call' then legs.oi_coin * greatest(candidates.strike - legs.strike, 0)
                else legs.oi_coin * greatest(legs.strike - candidates.strike, 0)
            end
        ) as payout_usd,
        sum(legs.oi_coin) as expiry_oi_coin

    from max_pain_candidates as candidates
    inner join monthly_chain as legs
        on
            candidates.date = legs.date
            and candidates.underlying = legs.underlying
    group by candidates.date, candidates.underlying, candidates.expiry, candidates.strike

),

max_pain as (

    select
        date,
        underlying,
        expiry as max_pain_expiry,
        settlement as max_pain_strike

    from max_pain_payouts
    where expiry_oi_coin > 0
    qualify row_number() over (partition by date, underlying order by payout_usd, settlement) = 1

),

skew_expiry as (

    -- the expiry nearest to 30 days out, at least 7 days away
    select
        date,
        underlying,
        arg_min(expiry, abs(date_diff('hour', snapshot_ts, expiry) - 720)) as skew_expiry

    from enriched
    where expiry >= snapshot_ts + interval 7 day
    group by date, underlying

),

skew_legs as (

    -- the OTM put and call whose strikes lie nearest 10% below and above spot (within 5%..15%)
    select
        enriched.date,
        enriched.underlying,
        skew_expiry.skew_expiry,
        enriched.option_type,
        enriched.strike,
        enriched.mark_iv

    from enriched
    inner join skew_expiry
        on
            enriched.date = skew_expiry.date
            and enriched.underlying = skew_expiry.underlying
            and enriched.expiry = skew_expiry.skew_expiry
    where
        enriched.mark_iv is not null
        and abs(ln(enriched.strike / enriched.spot_price)) between 0.05 and 0.15
        and (
            (enriched.option_type = 'put' and enriched.strike < enriched.spot_price)
            or (enriched.option_type = 'call' and enriched.strike > enriched.spot_price)
        )
    qualify row_number() over (
        partition by enriched.date, enriched.underlying, enriched.option_type
        order by abs(abs(ln(enriched.strike / enriched.spot_price)) - 0.10), enriched.strike
    ) = 1

),

skew as (

    select
        date,
        underlying,
        any_value(skew_expiry) as skew_expiry,
        any_value(strike) filter (where option_type = 'put') as skew_put_strike,
        any_value(strike) filter (where option_type = 'call') as skew_call_strike,
        any_value(mark_iv) filter (where option_type = 'put')
        - any_value(mark_iv) filter (where option_type = 'call') as skew_25d_like_vol_pts

    from skew_legs
    group by date, underlying

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
