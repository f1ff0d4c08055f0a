-- The parts of each OKX liquidations day that no run could see: the REST endpoint serves only the last 24
-- hours, so a day with no run between its end and 24 hours later keeps the hours before the first run's reach
with

partitions as (

    select * from {{ ref('stg_okx__liquidation_partitions') }}
    where has_observed_windows

),

observed_windows as (

    select
        venue,
        date,
        unnest(observed_windows_ms) as window_ms

    from partitions

),

observed as (

    select
        venue,
        date,
        make_timestamp(window_ms[1] * 1000) as observed_start,
        make_timestamp(window_ms[2] * 1000) as observed_end

    from observed_windows

),

-- The latest moment any run looked: later hours are not missed, they have not happened yet (or not been asked)
looked_until as (

    select max(observed_end) as as_of from observed

),

day_bounds as (

    select
        partitions.venue,
        partitions.date,
        cast(partitions.date as timestamp) as day_start,
        least(cast(partitions.date as timestamp) + interval 1 day, looked_until.as_of) as day_end

    from partitions
    cross join looked_until
    where cast(partitions.date as timestamp) < looked_until.as_of

),

ordered as (

    select
        venue,
        date,
        observed_start,
        observed_end,
        lag(observed_end) over (partition by venue, date order by observed_start) as previous_end

    from observed

),

-- Before each observed window, from the day's start or the previous window's end
gaps_before as (

    select
        day_bounds.venue,
        coalesce(ordered.previous_end, day_bounds.day_start) as gap_start,
        least(ordered.observed_start, day_bounds.day_end) as gap_end

    from ordered
    inner join day_bounds
        on
            ordered.venue = day_bounds.venue
            and ordered.date = day_bounds.date

),

-- After the last observed window (the whole day when none was)
gaps_after as (

    select
        day_bounds.venue,
        coalesce(max(observed.observed_end), day_bounds.day_start) as gap_start,
        day_bounds.day_end as gap_end

    from day_bounds
    left join observed
        on
            day_bounds.venue = observed.venue
            and day_bounds.date = observed.date
    group by day_bounds.venue, day_bounds.date, day_bounds.day_start, day_bounds.day_end

),

final as (

    select
        venue,
        gap_start,
        gap_end

    from gaps_before
    where gap_end > gap_start

    union all

    select
        venue,
        gap_start,
        gap_end

    from gaps_after
    where gap_end > gap_start

)

select * from final
