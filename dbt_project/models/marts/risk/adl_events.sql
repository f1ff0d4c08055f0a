with

readings as (

    select * from {{ ref('int_insurance_fund_readings_unioned') }}
    where entry_type = 'adl'

),

-- each ADL start with the first adl_end of the same fund after it
published as (

    select
        starts.ts,
        starts.venue,
        starts.asset,
        cast(null as varchar) as side,  -- OKX's entries name neither the side nor the amount deleveraged
        cast(null as double) as amount_usd,
        'published' as source,
        starts.adl_type,
        min(ends.ts) as ended_at,
        starts.balance_usd,
        starts.max_balance as high_8h,
        100 * (starts.max_balance - starts.balance) / nullif(starts.max_balance, 0) as decline_from_8h_high_pct

    from readings as starts
    left join readings as ends
        on
            starts.venue = ends.venue
            and starts.pool = ends.pool
            and starts.currency = ends.currency
            and ends.adl_type = 'adl_end'
            and starts.ts < ends.ts
    where starts.adl_type in ('rate_adl_start', 'bal_adl_start', 'pos_adl_start')
    group by
        starts.ts,
        starts.venue,
        starts.asset,
        starts.adl_type,
        starts.balance_usd,
        starts.max_balance,
        starts.balance

)

select * from published
