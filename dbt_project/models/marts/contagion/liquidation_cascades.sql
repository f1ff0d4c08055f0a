{#- Rebuilt whole on each build: episodes are few, and an episode crossing a run window's edge must merge. The
    expensive part, the minute flags, is incremental (int_liquidation_minutes_flagged). -#}
{%- set window = var('cascade_price_window_minutes') -%}
{%- set pad = var('cascade_overlap_pad_minutes') -%}
{%- set lookback = var('cascade_lookback_days') -%}
{%- set reach = var('cascade_oi_reach_hours') -%}

with

minutes as (

    select * from {{ ref('int_liquidation_minutes_flagged') }}

),

liquidations as (

    select * from {{ ref('int_liquidations_unioned') }}
    where source != 'aggregate'

),

klines as (

    select * from {{ ref('int_klines_1m_unioned') }}

),

open_interest as (

    select * from {{ ref('int_open_interest_hourly') }}

),

recorder_gaps as (

    {{ union_venue_staging('liquidation_gaps', var('liquidation_stream_venues'), ['venue', 'gap_start', 'gap_end'],
        where='gap_end > gap_start') }}

),

okx_unobserved as (

    select * from {{ ref('int_okx_liquidation_unobserved_windows') }}

),

api_health as (

    select * from {{ ref('stg_levwatch__api_health') }}
    where is_unavailable

),

stablecoins as (

    select * from {{ ref('stablecoins_daily') }}
    where chain = 'all'

),

hyperliquid_contexts as (

    select * from {{ ref('stg_hyperliquid__asset_contexts') }}

),

binance_hourly as (

    select * from {{ ref('int_klines_hourly_unioned') }}
    where venue = 'binance' and price_type in ('mark', 'index')

),

-- episodes: a flagged minute (of any asset) starts one unless the previous flagged minute is under the gap before it
adl as (

    select * from {{ ref('adl_events') }}

),

flagged as (

    select * from minutes
    where is_flagged

),

flagged_minute_list as (

    select distinct minute_ts

    from flagged

),

flagged_starts as (

    select
        minute_ts,
        coalesce(
            lag(minute_ts) over (order by minute_ts)
            <= minute_ts - interval {{ var('cascade_merge_gap_minutes') }} minute,
            true
        ) as starts_episode

    from flagged_minute_list

),

flagged_numbered as (

    select
        minute_ts,
        sum(case when starts_episode then 1 else 0 end) over (
            order by minute_ts rows between unbounded preceding and current row
        ) as episode_number

    from flagged_starts

),

episode_spans as (

    select
        flagged_numbered.episode_number,
        min(flagged.minute_ts) as start_ts,
        max(flagged.minute_ts) + interval 1 minute as end_ts,
        list_sort(list_distinct(list(flagged.asset))) as assets,
        count(distinct flagged.minute_ts) as flagged_minutes

    from flagged
    inner join flagged_numbered on flagged.minute_ts = flagged_numbered.minute_ts
    group by flagged_numbered.episode_number

),

-- the id hangs on what defines the episode (its first minute and its assets), not on its place in the history
episodes as (

    select
        md5(strftime(start_ts, '%Y-%m-%dT%H:%M') || '|' || array_to_string(assets, ',')) as episode_id,
        start_ts,
        end_ts,
        assets,
        flagged_minutes

    from episode_spans

),

-- every liquidated minute of the episode's assets inside its span, flagged or not
episode_minutes as (

    select
        episodes.episode_id,
        minutes.asset,
        minutes.minute_ts,
        minutes.long_usd,
        minutes.short_usd,
        minutes.total_usd,
        minutes.venues,
        minutes.has_sampled_rows,
        minutes.has_complete_rows

    from episodes
    inner join minutes
        on
            list_contains(episodes.assets, minutes.asset)
            and episodes.start_ts <= minutes.minute_ts
            and episodes.end_ts > minutes.minute_ts

),

episode_totals as (

    select
        episode_id,
        sum(long_usd) as long_usd,
        sum(short_usd) as short_usd,
        list_sort(list_distinct(flatten(list(venues)))) as venues,
        bool_or(has_sampled_rows) as has_sampled_rows,
        bool_or(has_complete_rows) as has_complete_rows

    from episode_minutes
    group by episode_id

),

episode_minute_totals as (

    select
        episode_id,
        minute_ts,
        sum(total_usd) as minute_usd

    from episode_minutes
    group by episode_id, minute_ts

),

peaks as (

    select
        episode_id,
        arg_max(minute_ts, minute_usd) as peak_minute,
        max(minute_usd) as peak_minute_usd

    from episode_minute_totals
    group by episode_id

),

episode_asset_totals as (

    select
        episode_id,
        asset,
        sum(total_usd) as asset_usd

    from episode_minutes
    group by episode_id, asset

),

-- the asset with the most USD liquidated: its price tells the episode's drawdown (or run-up)
primary_assets as (

    select
        episode_id,
        arg_max(asset, asset_usd) as primary_asset

    from episode_asset_totals
    group by episode_id

),

episode_sides as (

    select
        episodes.*,
        episode_totals.long_usd,
        episode_totals.short_usd,
        episode_totals.venues,
        episode_totals.has_sampled_rows,
        episode_totals.has_complete_rows,
        case when episode_totals.long_usd >= episode_totals.short_usd then 'long' else 'short' end as dominant_side,
        primary_assets.primary_asset,
        peaks.peak_minute,
        peaks.peak_minute_usd

    from episodes
    inner join episode_totals on episodes.episode_id = episode_totals.episode_id
    inner join primary_assets on episodes.episode_id = primary_assets.episode_id
    inner join peaks on episodes.episode_id = peaks.episode_id

),

-- per venue: from the close that opened the first flag's price window to the extreme inside the episode
venue_price_changes as (

    select
        episode_sides.episode_id,
        klines.venue,
        any_value(klines.close) filter (
            where klines.ts = episode_sides.start_ts - interval {{ window }} minute
        ) as reference_close,
        min(klines.low) filter (where klines.ts > episode_sides.start_ts - interval {{ window }} minute) as low,
        max(klines.high) filter (where klines.ts > episode_sides.start_ts - interval {{ window }} minute) as high,
        any_value(episode_sides.dominant_side) as dominant_side

    from episode_sides
    inner join klines
        on
            episode_sides.primary_asset = klines.asset
            and episode_sides.start_ts - interval {{ window }} minute <= klines.ts
            and episode_sides.end_ts > klines.ts
    group by episode_sides.episode_id, klines.venue

),

price_changes as (

    select
        episode_id,
        median(
            100 * ((case when dominant_side = 'long' then low else high end) / reference_close - 1)
        ) as price_change_pct

    from venue_price_changes
    where reference_close > 0
    group by episode_id

),

-- coin OI valued at the price before: the share of positions closed, not the price's own move
oi_pairs as (

    select
        episodes.episode_id,
        open_interest.venue,
        open_interest.asset,
        arg_max(open_interest.oi_coin, open_interest.ts) filter (
            where open_interest.ts <= episodes.start_ts
        ) as coin_before,
        arg_max(open_interest.oi_usd, open_interest.ts) filter (
            where open_interest.ts <= episodes.start_ts
        ) as usd_before,
        arg_min(open_interest.oi_coin, open_interest.ts) filter (
            where open_interest.ts >= episodes.end_ts
        ) as coin_after

    from episodes
    inner join open_interest
        on
            list_contains(episodes.assets, open_interest.asset)
            and open_interest.ts >= episodes.start_ts - interval {{ reach }} hour
            and open_interest.ts <= episodes.end_ts + interval {{ reach }} hour
    group by episodes.episode_id, open_interest.venue, open_interest.asset

),

oi_changes as (

    select
        episode_id,
        100 * (sum(coin_after * usd_before / coin_before) / sum(usd_before) - 1) as oi_change_pct

    from oi_pairs
    where coin_before > 0 and coin_after is not null and usd_before > 0
    group by episode_id

),

-- lead venue: each venue's own minute series against its own threshold (same quantile, its own history)
venue_buckets as (

    select
        venue,
        asset,
        date_trunc('minute', ts) as minute_ts,
        sum(notional_usd) as total_usd

    from liquidations
    group by venue, asset, date_trunc('minute', ts)

),

episode_events as (

    select
        episodes.episode_id,
        liquidations.venue,
        liquidations.asset,
        liquidations.ts,
        liquidations.event_key,
        liquidations.notional_usd,
        date_trunc('minute', liquidations.ts) as minute_ts

    from episodes
    inner join liquidations
        on
            list_contains(episodes.assets, liquidations.asset)
            and episodes.start_ts - interval {{ window }} minute <= liquidations.ts
            and episodes.end_ts > liquidations.ts

),

venue_days as (

    select distinct
        venue,
        asset,
        cast(minute_ts as date) as minute_date

    from episode_events

),

venue_thresholds as (

    select
        venue_days.venue,
        venue_days.asset,
        venue_days.minute_date,
        greatest(
            {{ var('cascade_venue_min_minute_usd') }},
            coalesce(quantile_cont(history.total_usd, {{ var('cascade_quantile') }}), 0)
        ) as threshold_usd

    from venue_days
    left join venue_buckets as history
        on
            venue_days.venue = history.venue
            and venue_days.asset = history.asset
            and venue_days.minute_date - interval {{ lookback }} day <= history.minute_ts
            and venue_days.minute_date > history.minute_ts
    group by venue_days.venue, venue_days.asset, venue_days.minute_date

),

-- the instant a venue's minute reached its threshold: the event that took the minute's running sum over it
venue_running as (

    select
        episode_events.episode_id,
        episode_events.venue,
        episode_events.ts,
        venue_thresholds.threshold_usd,
        sum(episode_events.notional_usd) over (
            partition by episode_events.episode_id, episode_events.venue, episode_events.asset, episode_events.minute_ts
            order by episode_events.ts, episode_events.event_key
            rows between unbounded preceding and current row
        ) as running_usd

    from episode_events
    inner join venue_thresholds
        on
            episode_events.venue = venue_thresholds.venue
            and episode_events.asset = venue_thresholds.asset
            and cast(episode_events.minute_ts as date) = venue_thresholds.minute_date

),

venue_crossings as (

    select
        episode_id,
        venue,
        min(ts) as crossed_at

    from venue_running
    where running_usd >= threshold_usd
    group by episode_id, venue

),

leads as (

    select
        episode_id,
        arg_min(venue, crossed_at) as lead_venue,
        date_diff('millisecond', min(crossed_at), list_sort(list(crossed_at))[2]) / 1000.0 as lead_seconds

    from venue_crossings
    group by episode_id

),

-- overlap evidence, each naming its venue (or stablecoin)
outage_evidence as (

    select
        episodes.episode_id,
        api_health.venue

    from episodes
    inner join api_health
        on
            api_health.requested_at >= episodes.start_ts - interval {{ pad }} minute
            and api_health.requested_at < episodes.end_ts + interval {{ pad }} minute

    union all

    select
        episodes.episode_id,
        recorder_gaps.venue

    from episodes
    inner join recorder_gaps
        on
            recorder_gaps.gap_start < episodes.end_ts + interval {{ pad }} minute
            and recorder_gaps.gap_end > episodes.start_ts - interval {{ pad }} minute

),

outages as (

    select
        episode_id,
        list_sort(list_distinct(list(venue))) as api_outage_venues

    from outage_evidence
    group by episode_id

),

-- liquidation feeds that went unwatched during the episode: their share of it is missing
unwatched_windows as (

    select
        venue,
        gap_start,
        gap_end

    from recorder_gaps

    union all

    select
        venue,
        gap_start,
        gap_end

    from okx_unobserved

),

watch_gaps as (

    select distinct episodes.episode_id

    from episodes
    inner join unwatched_windows as unwatched
        on
            episodes.end_ts > unwatched.gap_start
            and episodes.start_ts < unwatched.gap_end

),

depegs as (

    select
        episodes.episode_id,
        list_sort(list_distinct(list(stablecoins.stablecoin))) as depeg_assets

    from episodes
    inner join stablecoins
        on
            stablecoins.date >= cast(episodes.start_ts - interval {{ pad }} minute as date)
            and stablecoins.date <= cast(episodes.end_ts + interval {{ pad }} minute as date)
    where
        abs(stablecoins.peg_deviation_bps) >= {{ var('cascade_depeg_bps') }}
        or (
            stablecoins.worst_venue_ts >= episodes.start_ts - interval {{ pad }} minute
            and stablecoins.worst_venue_ts < episodes.end_ts + interval {{ pad }} minute
            and abs(stablecoins.worst_venue_deviation_bps) >= {{ var('cascade_depeg_bps') }}
        )
    group by episodes.episode_id

),

binance_mark_index as (

    select
        asset,
        ts,
        any_value(close) filter (where price_type = 'mark') as mark_close,
        any_value(close) filter (where price_type = 'index') as index_close

    from binance_hourly
    group by asset, ts

),

oracle_evidence as (

    select
        episodes.episode_id,
        hyperliquid_contexts.venue

    from episodes
    inner join hyperliquid_contexts
        on
            list_contains(episodes.assets, hyperliquid_contexts.asset)
            and hyperliquid_contexts.ts >= episodes.start_ts - interval {{ pad }} minute
            and hyperliquid_contexts.ts < episodes.end_ts + interval {{ pad }} minute
    where
        abs(hyperliquid_contexts.mark_price / nullif(hyperliquid_contexts.oracle_price, 0) - 1) * 10000
        >= {{ var('cascade_oracle_deviation_bps') }}

    union all

    select
        episodes.episode_id,
        'binance' as venue

    from episodes
    inner join binance_mark_index
        on
            list_contains(episodes.assets, binance_mark_index.asset)
            and binance_mark_index.ts >= date_trunc('hour', episodes.start_ts - interval {{ pad }} minute)
            and binance_mark_index.ts < episodes.end_ts + interval {{ pad }} minute
    where
        abs(binance_mark_index.mark_close / nullif(binance_mark_index.index_close, 0) - 1) * 10000
        >= {{ var('cascade_oracle_deviation_bps') }}

),

oracle_deviations as (

    select
        episode_id,
        list_sort(list_distinct(list(venue))) as oracle_deviation_venues

    from oracle_evidence
    group by episode_id

),

-- auto-deleveraging of one of the episode's assets that started before the episode ended and had not ended
-- before it started (an episode still open counts from its start); any venue: cascades are market-wide
adl_overlaps as (

    select
        episodes.episode_id,
        list_sort(list_distinct(list(adl.venue))) as adl_venues

    from episodes
    inner join adl
        on
            list_contains(episodes.assets, adl.asset)
            and episodes.end_ts > adl.ts
            and coalesce(adl.ended_at, adl.ts) >= episodes.start_ts
    group by episodes.episode_id

),

final as (

    select
        episode_sides.episode_id,
        episode_sides.start_ts,
        episode_sides.end_ts,
        cast(date_diff('minute', episode_sides.start_ts, episode_sides.end_ts) as integer) as duration_minutes,
        episode_sides.assets,
        episode_sides.venues,
        episode_sides.long_usd,
        episode_sides.short_usd,
        episode_sides.long_usd + episode_sides.short_usd as total_usd,
        episode_sides.dominant_side,
        episode_sides.peak_minute,
        episode_sides.peak_minute_usd,
        cast(episode_sides.flagged_minutes as integer) as flagged_minutes,
        episode_sides.primary_asset,
        price_changes.price_change_pct,
        oi_changes.oi_change_pct,
        leads.lead_venue,
        leads.lead_seconds,
        outages.episode_id is not null as api_outage_overlap,
        coalesce(outages.api_outage_venues, []) as api_outage_venues,
        depegs.episode_id is not null as depeg_overlap,
        coalesce(depegs.depeg_assets, []) as depeg_assets,
        oracle_deviations.episode_id is not null as oracle_mark_deviation_overlap,
        coalesce(oracle_deviations.oracle_deviation_venues, []) as oracle_deviation_venues,
        adl_overlaps.episode_id is not null as adl_overlap,
        coalesce(adl_overlaps.adl_venues, []) as adl_venues,
        case
            when not (episode_sides.has_sampled_rows or watch_gaps.episode_id is not null) then 'complete'
            when episode_sides.has_complete_rows then 'mixed'
            else 'sampled'
        end as coverage

    from episode_sides
    left join price_changes on episode_sides.episode_id = price_changes.episode_id
    left join oi_changes on episode_sides.episode_id = oi_changes.episode_id
    left join leads on episode_sides.episode_id = leads.episode_id
    left join outages on episode_sides.episode_id = outages.episode_id
    left join depegs on episode_sides.episode_id = depegs.episode_id
    left join oracle_deviations on episode_sides.episode_id = oracle_deviations.episode_id
    left join watch_gaps on episode_sides.episode_id = watch_gaps.episode_id
    left join adl_overlaps on episode_sides.episode_id = adl_overlaps.episode_id

)

select * from final
