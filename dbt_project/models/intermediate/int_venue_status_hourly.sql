{%- set endpoints = var('status_endpoints') -%}
{%- set reach = var('status_reach_hours') -%}

with

readings as (

    {{ union_venue_staging('system_status', endpoints,
        ['venue', 'event_id', 'snapshot_at', 'title', 'state', 'event_type', 'begin_at', 'end_at',
         'is_active_reading']) }}

),

attempts as (

    select * from {{ ref('stg_levwatch__api_health') }}

),

-- Each announcement as its latest snapshot tells it: the end moves from expected to actual on completion, and a
-- canceled event is dropped. An event still open without an end lasts until that snapshot
announcements as (

    select
        venue,
        event_id,
        title,
        event_type,
        begin_at,
        coalesce(end_at, snapshot_at) as end_at

    from readings
    where event_type in ('maintenance', 'incident')
    qualify
        row_number() over (partition by venue, event_id order by snapshot_at desc) = 1
        and is_active_reading

),

announced_hours as (

    select
        venue,
        event_type,
        title,
        unnest(range(date_trunc('hour', begin_at), end_at, interval 1 hour)) as ts

    from announcements
    where end_at > begin_at

),

-- A lock is a reading, not a window: it marks the hour it was read in
lock_hours as (

    select
        venue,
        'incident' as event_type,
        'platform locked' as title,
        date_trunc('hour', snapshot_at) as ts

    from readings
    where event_type = 'lock' and is_active_reading

),

events as (

    select * from announced_hours

    union all

    select * from lock_hours

),

-- The hours a status check can speak for: a usable answer of the venue's status endpoint at t speaks for the
-- hours from t - var('status_reach_hours')[venue] to t's own hour (announcement venues list completed events for a
-- while after they end; a current-state reading such as Deribit's speaks only for its own hour)
checks as (

    select
        venue,
        requested_at

    from attempts
    where
        is_ok
        and (
            {%- for venue in endpoints %}
                {% if not loop.first %}or {% endif %}(venue = '{{ venue }}' and endpoint = '{{ endpoints[venue] }}')
            {%- endfor %}
        )

),

checked_hours as (

    select distinct
        venue,
        unnest(range(
            date_trunc('hour', requested_at) - to_hours(
                case venue
                    {%- for venue in reach %}
                        when '{{ venue }}' then {{ reach[venue] }}
                    {%- endfor %}
                    else 0
                end
            ),
            date_trunc('hour', requested_at) + interval 1 hour,
            interval 1 hour
        )) as ts

    from checks

),

hours as (

    select
        venue,
        ts
    from checked_hours

    union

    select
        venue,
        ts
    from events

),

final as (

    select
        hours.venue,
        hours.ts,
        checked_hours.ts is not null as status_checked,
        case
            when bool_or(events.event_type = 'maintenance') then true
            when checked_hours.ts is not null then false
        end as status_maintenance,
        case
            when bool_or(events.event_type = 'incident') then true
            when checked_hours.ts is not null then false
        end as status_incident,
        string_agg(distinct events.title, '; ' order by events.title) as status_titles

    from hours
    left join checked_hours
        on hours.venue = checked_hours.venue and hours.ts = checked_hours.ts
    left join events
        on hours.venue = events.venue and hours.ts = events.ts
    group by hours.venue, hours.ts, checked_hours.ts

)

select * from final
