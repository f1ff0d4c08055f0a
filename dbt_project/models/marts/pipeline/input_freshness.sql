-- One row per venue dataset the pipeline has tried to ingest: is the lake's copy current? A day is stale when
-- its latest attempt did not write it (the venue failed on it, or on an earlier day of the same run). A later
-- run that writes the day clears it. Rebuilt whole on each run from the outcome log (a small file per run and
-- dataset).
with

outcomes as (

    select * from {{ ref('stg_levwatch__ingest_outcomes') }}

),

latest_per_day as (

    select *
    from outcomes
    qualify row_number() over (
        partition by venue, dataset, day
        order by attempted_at desc, run_id desc
    ) = 1

),

latest_run as (

    select
        venue,
        dataset,
        run_id as last_run_id,
        attempted_at as last_attempt_at
    from outcomes
    qualify row_number() over (partition by venue, dataset order by attempted_at desc, run_id desc) = 1

),

last_run_failures as (

    select
        outcomes.venue,
        outcomes.dataset,
        bool_or(outcomes.is_failure) as last_run_failed
    from outcomes
    inner join latest_run
        on
            outcomes.venue = latest_run.venue
            and outcomes.dataset = latest_run.dataset
            and outcomes.run_id = latest_run.last_run_id
    group by outcomes.venue, outcomes.dataset

),

ever_written as (

    select
        venue,
        dataset,
        max(day) as newest_day_written
    from outcomes
    where outcome in ('ok', 'kept')
    group by venue, dataset

),

per_dataset as (

    select
        venue,
        dataset,
        count(*) filter (where is_failure) as stale_day_count,
        min(day) filter (where is_failure) as first_stale_day,
        max(day) filter (where is_failure) as last_stale_day,
        arg_max(error, attempted_at) filter (where outcome = 'failed') as last_error
    from latest_per_day
    group by venue, dataset

),

final as (

    select
        per_dataset.venue,
        per_dataset.dataset,
        per_dataset.stale_day_count > 0 as is_stale,
        cast(per_dataset.stale_day_count as integer) as stale_day_count,
        per_dataset.first_stale_day,
        per_dataset.last_stale_day,
        per_dataset.last_error,
        ever_written.newest_day_written,
        latest_run.last_attempt_at,
        latest_run.last_run_id,
        not last_run_failures.last_run_failed as last_run_ok
    from per_dataset
    inner join latest_run
        on per_dataset.venue = latest_run.venue and per_dataset.dataset = latest_run.dataset
    inner join last_run_failures
        on per_dataset.venue = last_run_failures.venue and per_dataset.dataset = last_run_failures.dataset
    left join ever_written
        on per_dataset.venue = ever_written.venue and per_dataset.dataset = ever_written.dataset

)

select * from final
