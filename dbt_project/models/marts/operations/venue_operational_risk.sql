{%- set venues = var('operational_risk_venues') -%}
{%- set is_liquidation_venue = 'spine.venue in ' ~ quoted_list(var('liquidation_venues')) -%}

with

attempts as (

    select * from {{ ref('stg_levwatch__api_health') }}

),

outage_windows as (

    select * from {{ ref('int_venue_outage_windows') }}

),

gap_minutes_hourly as (

    select * from {{ ref('int_liquidation_gap_minutes_hourly') }}

),

status_hourly as (

    select * from {{ ref('int_venue_status_hourly') }}

),

liquidation_cells as (

    select * from {{ ref('liquidations_hourly') }}

),

cascades as (

    select * from {{ ref('liquidation_cascades') }}

),

-- Every attempt counts as a request, retries included: what the venue was asked, and how it answered
requests_hourly as (

    select
        venue,
        date_trunc('hour', requested_at) as ts,
        count(*) as request_count,
        count(*) filter (where not is_ok) as error_count,
        count(*) filter (where is_unavailable) as unavailable_count,
        round(quantile_cont(latency_ms, 0.95), 3) as p95_latency_ms  -- latencies are logged to the microsecond

    from attempts
    group by all

),

outage_hours as (

    select
        venue,
        outage_start,
        outage_end,
        unnest(range(date_trunc('hour', outage_start), outage_end, interval 1 hour)) as ts

    from outage_windows

),

-- Windows of one venue never overlap (they are merged), so their overlaps with an hour add up to at most 60
outage_minutes_hourly as (

    select
        venue,
        ts,
        least(
            sum(date_diff('millisecond', greatest(outage_start, ts), least(outage_end, ts + interval 1 hour)))
            / 60000.0,
            60
        ) as outage_minutes

    from outage_hours
    group by venue, ts

),

-- The venue's liquidation cells of the hour, over assets: a coverage shared by every cell is the venue's; a mix
-- (some assets watched, some not) is sampled
liquidations_venue_hourly as (

    select
        venue,
        ts,
        sum(long_usd) as long_usd,
        sum(short_usd) as short_usd,
        sum(total_usd) as total_usd,
        case when count(estimated_total_usd) = count(*) then sum(estimated_total_usd) end as estimated_total_usd,
        case when count(distinct coverage) = 1 then any_value(coverage) else 'sampled' end as liquidation_coverage

    from liquidation_cells
    group by venue, ts

),

spine as (

    select
        venue,
        ts
    from requests_hourly

    union

    select
        venue,
        ts
    from outage_minutes_hourly

    union

    select
        venue,
        ts
    from gap_minutes_hourly

    union

    select
        venue,
        ts
    from status_hourly

    union

    select
        venue,
        ts
    from liquidations_venue_hourly

),

-- The cascade episodes live in each hour: any (market-wide), and those whose venues include this one
cascade_hours as (

    select
        spine.venue,
        spine.ts,
        bool_or(list_contains(cascades.venues, spine.venue)) as cascade_live_on_venue,
        string_agg(distinct cascades.episode_id, ',' order by cascades.episode_id) as cascade_episode_ids

    from spine
    inner join cascades
        on
            spine.ts + interval 1 hour > cascades.start_ts
            and spine.ts < cascades.end_ts
    group by spine.venue, spine.ts

),

final as (

    select
        spine.venue,
        spine.ts,
        coalesce(requests_hourly.request_count, 0) as request_count,
        coalesce(requests_hourly.error_count, 0) as error_count,
        requests_hourly.error_count / nullif(requests_hourly.request_count, 0) as error_rate,
        requests_hourly.p95_latency_ms,
        coalesce(outage_minutes_hourly.outage_minutes, 0) as outage_minutes,
        case
            when {{ is_liquidation_venue }} then coalesce(gap_minutes_hourly.gap_minutes, 0)
        end as recorder_gap_minutes,
        coalesce(status_hourly.status_checked, false) as status_checked,
        status_hourly.status_maintenance,
        status_hourly.status_incident,
        status_hourly.status_titles,
        case
            when {{ is_liquidation_venue }} then coalesce(liquidations_venue_hourly.long_usd, 0)
        end as long_usd,
        case
            when {{ is_liquidation_venue }} then coalesce(liquidations_venue_hourly.short_usd, 0)
        end as short_usd,
        case
            when {{ is_liquidation_venue }} then coalesce(liquidations_venue_hourly.total_usd, 0)
        end as total_usd,
        liquidations_venue_hourly.estimated_total_usd,
        liquidations_venue_hourly.liquidation_coverage,
        cascade_hours.ts is not null as cascade_live,
        coalesce(cascade_hours.cascade_live_on_venue, false) as cascade_live_on_venue,
        cascade_hours.cascade_episode_ids,
        coalesce(outage_minutes_hourly.outage_minutes, 0) > 0
        or coalesce(gap_minutes_hourly.gap_minutes, 0) > 0
        or coalesce(status_hourly.status_incident, false)
        or coalesce(status_hourly.status_maintenance, false) as is_degraded

    from spine
    left join requests_hourly
        on spine.venue = requests_hourly.venue and spine.ts = requests_hourly.ts
    left join outage_minutes_hourly
        on spine.venue = outage_minutes_hourly.venue and spine.ts = outage_minutes_hourly.ts
    left join gap_minutes_hourly
        on spine.venue = gap_minutes_hourly.venue and spine.ts = gap_minutes_hourly.ts
    left join status_hourly
        on spine.venue = status_hourly.venue and spine.ts = status_hourly.ts
    left join liquidations_venue_hourly
        on spine.venue = liquidations_venue_hourly.venue and spine.ts = liquidations_venue_hourly.ts
    left join cascade_hours
        on spine.venue = cascade_hours.venue and spine.ts = cascade_hours.ts
    where spine.venue in {{ quoted_list(venues) }}

)

select * from final
