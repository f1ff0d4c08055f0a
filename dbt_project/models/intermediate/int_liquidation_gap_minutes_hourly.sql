with

recorder_gaps as (

    {{ union_venue_staging('liquidation_gaps', var('liquidation_stream_venues'), ['venue', 'gap_start', 'gap_end'],
        where='gap_end > gap_start') }}

),

rest_unobserved as (

    select * from {{ ref('int_okx_liquidation_unobserved_windows') }}

),

-- A stream recorder's disconnects, and the hours beyond the reach of every OKX REST run
gaps as (

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

    from rest_unobserved

),

-- Every hour a gap overlaps, with the minutes of the overlap
gap_hours as (

    select
        venue,
        gap_start,
        gap_end,
        unnest(range(date_trunc('hour', gap_start), gap_end, interval 1 hour)) as ts

    from gaps

),

hour_overlaps as (

    select
        venue,
        ts,
        date_diff('millisecond', greatest(gap_start, ts), least(gap_end, ts + interval 1 hour)) / 60000.0
            as overlap_minutes

    from gap_hours

),

-- Overlapping gaps (two recorders, or a gap logged twice) are capped at the hour, not double counted past it
final as (

    select
        venue,
        ts,
        least(sum(overlap_minutes), 60) as gap_minutes

    from hour_overlaps
    group by venue, ts

)

select * from final
