with

chain as (

    select * from {{ ref('int_options_chains_enriched') }}

),

strike_oi_ranked as (

    select
        date,
        underlying,
        option_type,
        strike,
        sum(oi_coin) as oi_coin,
        row_number() over (
            partition by date, underlying, option_type order by sum(oi_coin) desc, strike
        ) as oi_rank

    from chain
    group by date, underlying, option_type, strike

),

final as (

    select
        date,
        underlying,
        any_value(strike) filter (where option_type = 'put') as top_put_strike,
        any_value(oi_coin) filter (where option_type = 'put') as top_put_strike_oi_coin,
        any_value(strike) filter (where option_type = 'call') as top_call_strike,
        any_value(oi_coin) filter (where option_type = 'call') as top_call_strike_oi_coin

    from strike_oi_ranked
    where oi_rank = 1
    group by date, underlying

)

select * from final
