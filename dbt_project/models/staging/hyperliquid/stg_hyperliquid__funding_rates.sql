with

source as (

    select * from {{ source('hyperliquid', 'funding_rates') }}

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
        -- Hyperliquid settles hourly since 2023-06-08 (8-hourly before). Not derived from gaps: one missed
        -- hour would look like a 2h interval and halve the 8h-equivalent rate.
        coalesce(
            reported_interval_hours,
            case when funding_time < timestamp '2023-06-08' then 8.0 else 1.0 end
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
