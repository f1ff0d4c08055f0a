with

stablecoins as (

    select * from {{ ref('stg_defillama__stablecoins') }}

),

with_previous as (

    select
        *,
        lag(date) over (partition by stablecoin_id, chain order by date) as previous_date,
        lag(supply_usd) over (partition by stablecoin_id, chain order by date) as previous_supply_usd

    from stablecoins

),

final as (

    select
        date,
        stablecoin_id,
        symbol as stablecoin,
        name,
        chain,
        peg_type,
        peg_mechanism,
        supply_usd,
        case when previous_date = date - 1 then supply_usd - previous_supply_usd end as supply_usd_change,
        price,
        peg_deviation_bps,
        worst_venue_price,
        worst_venue,
        worst_venue_ts,
        worst_venue_deviation_bps

    from with_previous

)

select * from final
