with

readings as (

    select * from {{ ref('int_insurance_fund_readings_unioned') }}
    where balance_usd is not null

),

-- each pool's last reading of the day: its closing balance (an OKX deposit and bankruptcy-loss entry booked at
-- the same time carry the same balance)
pool_days as (

    select
        venue,
        currency,
        pool,
        cast(ts as date) as date,
        arg_max(balance_usd, ts) as balance_usd

    from readings
    group by venue, currency, pool, cast(ts as date)

),

venue_days as (

    select
        date,
        venue,
        currency,
        sum(balance_usd) as balance_usd,
        count(*) as pool_count

    from pool_days
    group by date, venue, currency

),

with_history as (

    select
        date,
        venue,
        currency,
        balance_usd,
        balance_usd - lag(balance_usd) over by_day as change_usd,
        max(balance_usd) over (
            partition by venue, currency
            order by date
            range between interval ({{ var('insurance_high_window_days') }} - 1) days preceding and current row
        ) as high_30d_usd,
        pool_count

    from venue_days
    window by_day as (partition by venue, currency order by date)

),

final as (

    select
        date,
        venue,
        currency,
        balance_usd,
        change_usd,
        high_30d_usd,
        100 * (high_30d_usd - balance_usd) / nullif(high_30d_usd, 0) as drawdown_from_30d_high_pct,
        pool_count

    from with_history

)

select * from final
