with

source as (

    select * from {{ source('levwatch', 'api_health') }}

),

renamed as (

    select
        venue,
        endpoint,
        method,
        timezone('UTC', requested_at) as requested_at,
        status,
        latency_ms,
        attempt,
        ok,
        error,
        run_id,
        -- the venue failed to serve (5xx, timeout, connection): an outage sign; a 4xx or 429 is the caller's problem
        not ok and (status is null or status >= 500) as is_outage_failure

    from source

)

select * from renamed
