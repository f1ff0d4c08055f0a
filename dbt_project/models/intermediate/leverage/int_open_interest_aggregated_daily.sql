with

venue_day_open_interest as (

    select * from {{ ref('int_open_interest_closed_daily') }}

),

daily_open_interest as (

    select
        date,
        asset,
        sum(oi_coin) as oi_coin,
        sum(oi_usd) as oi_usd,
        cast(count(*) as integer) as oi_venues

    from venue_day_open_interest
    group by date, asset

),

-- Only venues that reported on both days count, so a venue joining the data does not look like an OI jump
daily_open_interest_change as (

    select
        today.date,
        today.asset,
        sum(today.oi_usd) - sum(previous_day.oi_usd) as oi_usd_change,
        100 * (sum(today.oi_usd) - sum(previous_day.oi_usd))
        / nullif(sum(previous_day.oi_usd), 0) as oi_usd_change_pct

    from venue_day_open_interest as today
    inner join venue_day_open_interest as previous_day
        on
            today.venue = previous_day.venue
            and today.asset = previous_day.asset
            and today.date - 1 = previous_day.date
    where today.oi_usd is not null and previous_day.oi_usd is not null
    group by today.date, today.asset

),

-- Every day with a change has a venue reading that day, so the left join keeps every change
final as (

    select
        daily_open_interest.date,
        daily_open_interest.asset,
        daily_open_interest.oi_coin,
        daily_open_interest.oi_usd,
        daily_open_interest.oi_venues,
        daily_open_interest_change.oi_usd_change,
        daily_open_interest_change.oi_usd_change_pct

    from daily_open_interest
    left join daily_open_interest_change
        on
            daily_open_interest.date = daily_open_interest_change.date
            and daily_open_interest.asset = daily_open_interest_change.asset

)

select * from final
