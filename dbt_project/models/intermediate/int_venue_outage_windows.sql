with

attempts as (

    select * from {{ ref('stg_levwatch__api_health') }}

),

-- For each attempt, the venue's next usable answer after it (any endpoint: the venue is back when it answers)
with_next_ok as (

    select
        venue,
        requested_at,
        is_unavailable,
        min(case when is_ok then requested_at end) over (
            partition by venue
            order by requested_at
            rows between 1 following and unbounded following
        ) as next_ok_at

    from attempts

),

-- An unavailable attempt opens downtime until the venue's next usable answer, bridged at most
-- var('outage_max_bridge_minutes'): a failure followed by silence is not a day-long outage
down_spans as (

    select
        venue,
        requested_at as span_start,
        least(
            coalesce(next_ok_at, requested_at + to_minutes({{ var('outage_max_bridge_minutes') }})),
            requested_at + to_minutes({{ var('outage_max_bridge_minutes') }})
        ) as span_end

    from with_next_ok
    where is_unavailable

),

-- Overlapping spans (retries, parallel requests) merge into one window: a span starts a new window when it
-- begins after every earlier span of the venue has ended
flagged as (

    select
        venue,
        span_start,
        span_end,
        case
            when span_start <= max(span_end) over (
                partition by venue
                order by span_start, span_end
                rows between unbounded preceding and 1 preceding
            ) then 0
            else 1
        end as starts_window

    from down_spans

),

numbered as (

    select
        venue,
        span_start,
        span_end,
        sum(starts_window) over (
            partition by venue
            order by span_start, span_end
            rows between unbounded preceding and current row
        ) as window_number

    from flagged

),

final as (

    select
        venue,
        min(span_start) as outage_start,
        max(span_end) as outage_end,
        count(*) as unavailable_attempts

    from numbered
    group by venue, window_number

)

select * from final
