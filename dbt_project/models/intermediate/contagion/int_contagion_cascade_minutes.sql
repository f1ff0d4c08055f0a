-- Minutes in which one venue force-closed at least var('contagion_cascade_minute_usd') of one asset's positions.
-- Stands in for the cascade detector's flagged minutes (int_liquidation_minutes_flagged) until it lands.
with

liquidations as (

    select * from {{ ref('int_liquidations_unioned') }}
    where source != 'aggregate'

),

minute_cells as (

    select
        venue,
        asset,
        date_trunc('minute', ts) as ts,
        sum(notional_usd) as liquidated_usd

    from liquidations
    group by venue, asset, date_trunc('minute', ts)

),

final as (

    select
        venue,
        asset,
        ts,
        cast(ts as date) as date,
        liquidated_usd

    from minute_cells
    where liquidated_usd >= {{ var('contagion_cascade_minute_usd') }}

)

select * from final
