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
        status as http_status,
        latency_ms,
        attempt,
        ok as is_ok,
        error,
        run_id,
        -- the venue could not answer: no response at all (timeout, connection), or a 5xx. Rate limits, bans and
        -- other 4xx are answers (ours to fix), and so is a bad payload under HTTP 200
        not ok and (status is null or status >= 500) as is_unavailable

    from source

)

select * from renamed
