{#- The venues with open interest history; Hyperliquid's comes from its asset-context snapshots below. -#}
{%- set venues = var('open_interest_history_venues') -%}

with

reported_open_interest as (

    {{ union_venue_staging('open_interest', venues, mart_columns('open_interest') + ["'reported' as oi_usd_method"]) }}

),

-- Hyperliquid has no OI history: its OI comes from the asset-context snapshots, priced at their mark
hyperliquid_open_interest as (

    select
        {{ select_list(mart_columns('open_interest')) }},
        'snapshot_mark_price' as oi_usd_method

    from {{ ref('stg_hyperliquid__asset_contexts') }}
    where oi_coin is not null

),

last_prices as (

    select
        venue,
        asset,
        ts,
        open,
        close

    from {{ ref('int_klines_hourly_unioned') }}
    where price_type = 'last'

),

unioned as (

    select * from reported_open_interest
    union all
    select * from hyperliquid_open_interest

),

-- One reading per venue, asset and hour: the earliest in the hour, the closest to the hour it is filed under
hourly as (

    select
        venue,
        asset,
        date_trunc('hour', ts) as ts,
        oi_coin,
        oi_usd,
        oi_usd_method

    from unioned
    qualify row_number() over (partition by venue, asset, date_trunc('hour', ts) order by ts) = 1

),

-- The price at the top of the hour: the open of the hour's candle, else the close of the one before
priced as (

    select
        hourly.*,
        coalesce(this_hour.open, previous_hour.close) as price_at_ts

    from hourly
    left join last_prices as this_hour
        on
            hourly.venue = this_hour.venue
            and hourly.asset = this_hour.asset
            and hourly.ts = this_hour.ts
    left join last_prices as previous_hour
        on
            hourly.venue = previous_hour.venue
            and hourly.asset = previous_hour.asset
            and hourly.ts - interval 1 hour = previous_hour.ts

),

final as (

    select
        venue,
        asset,
        ts,
        coalesce(oi_coin, oi_usd / price_at_ts) as oi_coin,
        coalesce(oi_usd, oi_coin * price_at_ts) as oi_usd,
        case
            when oi_usd is not null then oi_usd_method
            when oi_coin is not null and price_at_ts is not null then 'kline_price'
        end as oi_usd_method

    from priced

)

select * from final
