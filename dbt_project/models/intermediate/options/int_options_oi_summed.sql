with

chain as (

    select * from {{ ref('int_options_chains_enriched') }}

),

final as (

    select
        date,
        underlying,
        any_value(snapshot_ts) as snapshot_ts,
        any_value(spot_price) as spot_price,
        any_value(nearest_expiry) as nearest_expiry,
        sum(oi_coin) as total_oi_coin,
        sum(oi_usd) as total_oi_usd,
        coalesce(sum(oi_coin) filter (where option_type = 'put'), 0) as put_oi_coin,
        coalesce(sum(oi_coin) filter (where option_type = 'call'), 0) as call_oi_coin,
        coalesce(
            sum(oi_coin) filter (where option_type = 'put' and expiry = nearest_expiry), 0
        ) as nearest_put_oi_coin,
        coalesce(
            sum(oi_coin) filter (where option_type = 'call' and expiry = nearest_expiry), 0
        ) as nearest_call_oi_coin,
        coalesce(
            sum(oi_coin) filter (where strike between 0.9 * spot_price and 1.1 * spot_price), 0
        ) as near_spot_oi_coin

    from chain
    group by date, underlying

)

select * from final
