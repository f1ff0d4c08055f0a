with

chain as (

    select * from {{ ref('int_options_chains_enriched') }}

),

skew_expiry as (

    -- the expiry nearest to 30 days out, at least 7 days away
    select
        date,
        underlying,
        arg_min(expiry, abs(date_diff('hour', snapshot_ts, expiry) - 720)) as skew_expiry

    from chain
    where expiry >= snapshot_ts + interval 7 day
    group by date, underlying

),

skew_legs as (

    -- the OTM put and call whose strikes lie nearest 10% below and above spot (within 5%..15%)
    select
        chain.date,
        chain.underlying,
        skew_expiry.skew_expiry,
        chain.option_type,
        chain.strike,
        chain.mark_iv

    from chain
    inner join skew_expiry
        on
            chain.date = skew_expiry.date
            and chain.underlying = skew_expiry.underlying
            and chain.expiry = skew_expiry.skew_expiry
    where
        chain.mark_iv is not null
        and abs(ln(chain.strike / chain.spot_price)) between 0.05 and 0.15
        and (
            (chain.option_type = 'put' and chain.strike < chain.spot_price)
            or (chain.option_type = 'call' and chain.strike > chain.spot_price)
        )
    qualify row_number() over (
        partition by chain.date, chain.underlying, chain.option_type
        order by abs(abs(ln(chain.strike / chain.spot_price)) - 0.10), chain.strike
    ) = 1

),

final as (

    select
        date,
        underlying,
        any_value(skew_expiry) as skew_expiry,
        any_value(strike) filter (where option_type = 'put') as skew_put_strike,
        any_value(strike) filter (where option_type = 'call') as skew_call_strike,
        any_value(mark_iv) filter (where option_type = 'put')
        - any_value(mark_iv) filter (where option_type = 'call') as skew_25d_like_vol_pts

    from skew_legs
    group by date, underlying

)

select * from final
