with

-- The run window only: every figure of options_positioning_daily comes from one day's last snapshot
snapshots as (

    select * from {{ ref('stg_deribit__options_snapshots') }}
    where
        {{ in_run_window('snapshot_ts') }}
        and oi_coin is not null

),

last_snapshot as (

    select
        underlying,
        cast(snapshot_ts as date) as date,
        max(snapshot_ts) as snapshot_ts

    from snapshots
    group by underlying, cast(snapshot_ts as date)

),

chain as (

    select
        last_snapshot.date,
        snapshots.*

    from snapshots
    inner join last_snapshot
        on
            snapshots.underlying = last_snapshot.underlying
            and snapshots.snapshot_ts = last_snapshot.snapshot_ts

),

expiries as (

    select
        date,
        underlying,
        min(expiry) as nearest_expiry,
        -- monthlies (and quarterlies) expire on the month's last Friday
        min(expiry) filter (
            where dayofweek(expiry) = 5 and month(expiry + interval 7 day) <> month(expiry)
        ) as nearest_monthly_expiry

    from chain
    group by date, underlying

),

spot as (

    -- spot: the nearest expiry's underlying price (its forward is within hours of the index)
    select
        chain.date,
        chain.underlying,
        avg(chain.underlying_price) as spot_price

    from chain
    inner join expiries
        on
            chain.date = expiries.date
            and chain.underlying = expiries.underlying
            and chain.expiry = expiries.nearest_expiry
    group by chain.date, chain.underlying

),

-- Every day and underlying of the chain has its expiries and spot, so the inner joins keep every option
final as (

    select
        chain.date,
        chain.underlying,
        chain.snapshot_ts,
        chain.expiry,
        chain.strike,
        chain.option_type,
        chain.oi_coin,
        chain.oi_usd,
        chain.mark_iv,
        expiries.nearest_expiry,
        expiries.nearest_monthly_expiry,
        spot.spot_price

    from chain
    inner join expiries
        on
            chain.date = expiries.date
            and chain.underlying = expiries.underlying
    inner join spot
        on
            chain.date = spot.date
            and chain.underlying = spot.underlying

)

select * from final
