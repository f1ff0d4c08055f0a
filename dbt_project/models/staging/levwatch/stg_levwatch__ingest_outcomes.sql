with

source as (

    select * from {{ source('levwatch', 'ingest_outcomes') }}

),

renamed as (

    select
        venue,
        dataset,
        cast(timezone('UTC', day) as date) as day,
        run_id,
        timezone('UTC', attempted_at) as attempted_at,
        outcome,
        rows as row_count,
        error,
        outcome in ('failed', 'not_attempted') as is_failure

    from source

)

select * from renamed
