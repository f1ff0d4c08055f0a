with

source as (

    select * from {{ source('okx', 'funding_rates') }}

),

renamed as (

    select
        venue,
        upper(trim(asset)) as asset,
        symbol,
        timezone('UTC', funding_time) as funding_time,
        funding_rate,
        funding_interval_hours as reported_interval_hours,
        mark_price

    from source

),

with_interval as (

    select
        *,
        -- OKX intervals vary (8/6/4/2/1h) and may change: when not reported, derive them from the gaps
        coalesce(
            reported_interval_hours,
            {{ derived_funding_interval_hours('funding_time', 'symbol') }}
        ) as funding_interval_hours

    from renamed

),

final as (

    select
        venue,
        asset,
        symbol,
        funding_time,
        funding_rate,
        funding_interval_hours,
        funding_rate * 8 / funding_interval_hours as funding_rate_8h,
        mark_price

    from with_interval

)

select * from final
