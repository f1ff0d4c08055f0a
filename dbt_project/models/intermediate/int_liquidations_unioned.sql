{%- set venues = var('liquidation_venues') -%}
{%- set venue_list = "'" ~ venues | join("', '") ~ "'" -%}
{%- set columns = [
    'venue', 'asset', 'ts', 'side', 'price', 'qty_coin', 'notional_usd', 'source', 'coverage', 'event_key',
] -%}

with

events as (

    {{ union_venue_staging('liquidations', venues, columns) }}

),

-- CoinGlass per-exchange hours fill in where a venue has no events of its own (the recorder was down, or the
-- hour is beyond OKX's 24 h); the all-exchange figure is only used for estimates in the cell marts
hourly_aggregates as (

    select * from {{ ref('stg_coinglass__liquidation_aggregates') }}
    where
        aggregate_interval = '1h'
        and covers_venue in ({{ venue_list }})

),

event_hours as (

    select distinct
        venue,
        asset,
        date_trunc('hour', ts) as ts

    from events

),

aggregate_sides as (

    select
        covers_venue as venue,
        asset,
        ts,
        'long' as side,
        long_usd as notional_usd

    from hourly_aggregates
    where long_usd > 0

    union all

    select
        covers_venue as venue,
        asset,
        ts,
        'short' as side,
        short_usd as notional_usd

    from hourly_aggregates
    where short_usd > 0

),

aggregate_only as (

    select
        aggregate_sides.venue,
        aggregate_sides.asset,
        aggregate_sides.ts,
        aggregate_sides.side,
        cast(null as double) as price,
        cast(null as double) as qty_coin,
        aggregate_sides.notional_usd,
        'aggregate' as source,
        'aggregate_only' as coverage,
        'coinglass:1h:' || aggregate_sides.asset || ':' || strftime(aggregate_sides.ts, '%Y-%m-%dT%H:%M') || ':'
        || aggregate_sides.side
            as event_key

    from aggregate_sides
    anti join event_hours
        on
            aggregate_sides.venue = event_hours.venue
            and aggregate_sides.asset = event_hours.asset
            and aggregate_sides.ts = event_hours.ts

),

final as (

    select * from events
    union all
    select * from aggregate_only

)

select * from final
