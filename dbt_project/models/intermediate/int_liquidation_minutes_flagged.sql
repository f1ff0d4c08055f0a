{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['asset', 'minute_ts'],
        on_schema_change='append_new_columns',
    )
}}

{%- set lookback = var('cascade_lookback_days') -%}
{%- set window = var('cascade_price_window_minutes') -%}

with

-- the window's days and the trailing history their thresholds need; CoinGlass hourly fills have no minute
liquidations as (

    select * from {{ ref('int_liquidations_unioned') }}
    where source != 'aggregate' and {{ in_run_window('ts', lookback_days=lookback) }}

),

-- a day more: the trailing window's first minute takes its return from the minute before it, as in a full build
klines as (

    select * from {{ ref('int_klines_1m_unioned') }}
    where {{ in_run_window('ts', lookback_days=lookback | int + 1) }}

),

minute_buckets as (

    select
        asset,
        date_trunc('minute', ts) as minute_ts,
        coalesce(sum(notional_usd) filter (where side = 'long'), 0) as long_usd,
        coalesce(sum(notional_usd) filter (where side = 'short'), 0) as short_usd,
        list_sort(list_distinct(list(venue))) as venues,
        bool_or(coverage = 'sampled') as has_sampled_rows,
        bool_or(coverage = 'complete') as has_complete_rows

    from liquidations
    group by asset, date_trunc('minute', ts)

),

window_buckets as (

    select
        *,
        cast(minute_ts as date) as minute_date

    from minute_buckets
    where {{ in_run_window('minute_ts') }}

),

bucket_days as (

    select distinct
        asset,
        minute_date

    from window_buckets

),

-- the quantile of the asset's minute buckets (minutes with liquidations) over the full days before the minute's day
liquidation_thresholds as (

    select
        bucket_days.asset,
        bucket_days.minute_date,
        quantile_cont(history.long_usd + history.short_usd, {{ var('cascade_quantile') }}) as history_quantile_usd,
        count(history.minute_ts) as history_buckets

    from bucket_days
    left join minute_buckets as history
        on
            bucket_days.asset = history.asset
            and bucket_days.minute_date - interval {{ lookback }} day <= history.minute_ts
            and bucket_days.minute_date > history.minute_ts
    group by bucket_days.asset, bucket_days.minute_date

),

-- per venue: the minute's log return and the move over the price window, never bridged across a missing minute
price_moves as (

    select
        venue,
        asset,
        ts as minute_ts,
        case
            when lag(ts) over by_minute = ts - interval 1 minute then ln(close / lag(close) over by_minute)
        end as log_return,
        case
            when lag(ts, {{ window }}) over by_minute = ts - interval {{ window }} minute
                then ln(close / lag(close, {{ window }}) over by_minute)
        end as window_return

    from klines
    window by_minute as (partition by venue, asset, price_type order by ts)

),

return_days as (

    select
        asset,
        cast(minute_ts as date) as return_date,
        count(log_return) as returns,
        sum(log_return) as sum_return,
        sum(log_return * log_return) as sum_squared_return

    from price_moves
    group by asset, cast(minute_ts as date)

),

-- sigma of one-minute log returns, all venues pooled, over the same trailing days as the thresholds
sigmas as (

    select
        bucket_days.asset,
        bucket_days.minute_date,
        sum(return_days.returns) as history_returns,
        sqrt(
            (
                sum(return_days.sum_squared_return)
                - sum(return_days.sum_return) * sum(return_days.sum_return) / sum(return_days.returns)
            )
            / (sum(return_days.returns) - 1)
        ) as sigma_1m

    from bucket_days
    inner join return_days
        on
            bucket_days.asset = return_days.asset
            and bucket_days.minute_date - interval {{ lookback }} day <= return_days.return_date
            and bucket_days.minute_date > return_days.return_date
    group by bucket_days.asset, bucket_days.minute_date
    having sum(return_days.returns) >= greatest({{ var('cascade_min_history_minutes') }}, 2)

),

asset_moves as (

    select
        asset,
        minute_ts,
        median(window_return) as window_return,
        count(*) as price_venues

    from price_moves
    where window_return is not null and {{ in_run_window('minute_ts') }}
    group by asset, minute_ts

),

scored as (

    select
        window_buckets.asset,
        window_buckets.minute_ts,
        window_buckets.long_usd,
        window_buckets.short_usd,
        window_buckets.long_usd + window_buckets.short_usd as total_usd,
        window_buckets.venues,
        window_buckets.has_sampled_rows,
        window_buckets.has_complete_rows,
        greatest({{ var('cascade_min_minute_usd') }}, coalesce(liquidation_thresholds.history_quantile_usd, 0))
            as threshold_usd,
        liquidation_thresholds.history_buckets,
        greatest(window_buckets.long_usd, window_buckets.short_usd)
        / nullif(window_buckets.long_usd + window_buckets.short_usd, 0) as dominant_share,
        case when window_buckets.long_usd >= window_buckets.short_usd then 'long' else 'short' end as dominant_side,
        asset_moves.window_return,
        asset_moves.price_venues,
        sigmas.sigma_1m,
        asset_moves.window_return / nullif(sigmas.sigma_1m * sqrt({{ window }}), 0) as move_sigmas

    from window_buckets
    left join liquidation_thresholds
        on
            window_buckets.asset = liquidation_thresholds.asset
            and window_buckets.minute_date = liquidation_thresholds.minute_date
    left join sigmas
        on
            window_buckets.asset = sigmas.asset
            and window_buckets.minute_date = sigmas.minute_date
    left join asset_moves
        on
            window_buckets.asset = asset_moves.asset
            and window_buckets.minute_ts = asset_moves.minute_ts

),

tested as (

    select
        *,
        total_usd >= threshold_usd as meets_volume,
        dominant_share >= {{ var('cascade_side_share') }} as meets_side,
        -- longs are flushed by a fall, shorts squeezed by a rise: the move must run against the dominant side
        coalesce(
            case when dominant_side = 'long' then -move_sigmas else move_sigmas end
            >= {{ var('cascade_price_sigmas') }},
            false
        ) as meets_price

    from scored

),

final as (

    select
        asset,
        minute_ts,
        long_usd,
        short_usd,
        total_usd,
        dominant_side,
        dominant_share,
        venues,
        has_sampled_rows,
        has_complete_rows,
        threshold_usd,
        history_buckets,
        window_return,
        price_venues,
        sigma_1m,
        move_sigmas,
        meets_volume,
        meets_side,
        meets_price,
        meets_volume and meets_side and meets_price as is_flagged

    from tested

)

select * from final
