with

chain as (

    select * from {{ ref('int_options_chains_enriched') }}

),

monthly_chain as (

    select *
    from chain
    where expiry = nearest_monthly_expiry

),

max_pain_candidates as (

    select distinct
        date,
        underlying,
        expiry,
        strike

    from monthly_chain

),

max_pain_payouts as (

    -- holders' payout if the monthly settles at each of its strikes
    select
        candidates.date,
        candidates.underlying,
        candidates.expiry,
        candidates.strike as settlement,
        sum(
            case
                when legs.option_type = 'call' then legs.oi_coin * greatest(candidates.strike - legs.strike, 0)
                else legs.oi_coin * greatest(legs.strike - candidates.strike, 0)
            end
        ) as payout_usd,
        sum(legs.oi_coin) as expiry_oi_coin

    from max_pain_candidates as candidates
    inner join monthly_chain as legs
        on
            candidates.date = legs.date
            and candidates.underlying = legs.underlying
    group by candidates.date, candidates.underlying, candidates.expiry, candidates.strike

),

final as (

    select
        date,
        underlying,
        expiry as max_pain_expiry,
        settlement as max_pain_strike

    from max_pain_payouts
    where expiry_oi_coin > 0
    qualify row_number() over (partition by date, underlying order by payout_usd, settlement) = 1

)

select * from final
