with

source as (

    select * from {{ source('defillama', 'stablecoins') }}

),

renamed as (

    select
        venue,
        stablecoin_id,
        symbol,
        name,
        chain,
        cast(timezone('UTC', ts) as date) as date,
        supply_usd,
        price,
        peg_type,
        peg_mechanism,
        -- prices are in USD, so a deviation from the peg is only defined for USD-pegged coins
        case when peg_type = 'peggedUSD' then 10000 * (price - 1) end as peg_deviation_bps,
        worst_venue_price,
        worst_venue,
        timezone('UTC', worst_venue_ts) as worst_venue_ts,
        case when peg_type = 'peggedUSD' then 10000 * (worst_venue_price - 1) end as worst_venue_deviation_bps

    from source

)

select * from renamed
