-- The systemic-risk index's raw components, long: one CTE per component, each (date, component, value).
-- Category, weight and direction come from the seed risk_component_weights. State components (leverage,
-- collateral at risk) are read at the previous day's close: the exposure going into the day. Adding a
-- component: one CTE here, one line in the union, one row in the seed.
with

leverage as (

    select * from {{ ref('leverage_daily') }}

),

collateral as (

    select * from {{ ref('collateral_at_risk') }}

),

debt as (

    select * from {{ ref('crypto_debt_daily') }}

),

stablecoins as (

    select * from {{ ref('stablecoins_daily') }}

),

etf as (

    select * from {{ ref('etf_flows_daily') }}

),

contagion as (

    select * from {{ ref('contagion_daily') }}

),

insurance as (

    select * from {{ ref('insurance_funds_daily') }}

),

operations as (

    select * from {{ ref('venue_operational_risk') }}

),

weights as (

    select * from {{ ref('risk_component_weights') }}

),

spine as (

    select distinct date from leverage

),

est_leverage_ratio as (

    -- perp OI over market cap, all assets together, at the previous day's close
    select
        date + 1 as date,
        'est_leverage_ratio' as component,
        sum(oi_usd) / nullif(sum(market_cap_usd), 0) as value

    from leverage
    where oi_usd is not null and market_cap_usd is not null
    group by date

),

collateral_at_risk_10 as (

    select
        date + 1 as date,
        'collateral_at_risk_10' as component,
        sum(total_liquidatable_usd) as value

    from collateral
    where shock_pct = -10
    group by date

),

debt_ledger_growth as (

    -- the on-chain part only (DeFi borrowed + CDP stablecoins, read every day): the CeFi book is a quarterly
    -- disclosure dated at the quarter's end and published weeks later, so its step would read as one week's growth
    select
        date,
        'debt_ledger_growth' as component,
        100 * (onchain_usd / nullif(lag(onchain_usd, 7) over (order by date), 0) - 1) as value

    from debt
    -- growth over exactly 7 calendar days: the lag is by row, so a gap in the ledger gives null
    qualify lag(date, 7) over (order by date) = date - 7

),

liquidation_imbalance as (

    -- |ln| of the long/short ratio, with $1M added to each side so a thin day's ratio does not explode
    select
        date,
        'liquidation_imbalance' as component,
        abs(ln((coalesce(sum(liq_long_usd), 0) + 1e6) / (coalesce(sum(liq_short_usd), 0) + 1e6))) as value

    from leverage
    group by date
    having count(liq_long_usd) + count(liq_short_usd) > 0

),

stablecoin_peg_deviation as (

    select
        date,
        'stablecoin_peg_deviation' as component,
        max(greatest(abs(peg_deviation_bps), coalesce(abs(worst_venue_deviation_bps), 0))) as value

    from stablecoins
    where peg_deviation_bps is not null
    group by date

),

oi_weighted_funding as (

    -- percent per 8h, signed; the seed scores it two-sided (crowded longs, or capitulation)
    select
        date,
        'oi_weighted_funding' as component,
        100 * sum(funding_rate_8h_oi_weighted * oi_usd) / nullif(sum(oi_usd), 0) as value

    from leverage
    where funding_rate_8h_oi_weighted is not null and oi_usd is not null
    group by date

),

etf_by_underlying as (

    select distinct
        date,
        underlying,
        flow_5d_usd

    from etf
    where flow_5d_usd is not null

),

etf_trading_days as (

    select
        date,
        sum(flow_5d_usd) as flow_5d_usd

    from etf_by_underlying
    group by date

),

etf_flow_5d as (

    -- US trading days only: weekends and holidays carry the last trading day's figure
    select
        spine.date,
        'etf_flow_5d' as component,
        etf_trading_days.flow_5d_usd as value

    from spine
    asof inner join etf_trading_days
        on spine.date >= etf_trading_days.date

),

cascade_minutes as (

    -- minutes the cascade detector flagged (any asset), from the contagion mart's co-movement
    select
        date,
        'cascade_minutes' as component,
        cast(cascade_minutes as double) as value

    from contagion

),

spillover_index as (

    -- the Diebold-Yilmaz total spillover index of hourly returns across venues x assets (0..100)
    select
        date,
        'spillover_index' as component,
        returns_spillover_index as value

    from contagion

),

venue_outage_minutes as (

    -- minutes venues failed our requests, summed over venues (venue_operational_risk, a lower bound)
    select
        cast(ts as date) as date,
        'venue_outage_minutes' as component,
        sum(coalesce(outage_minutes, 0)) as value

    from operations
    group by cast(ts as date)

),

insurance_fund_drawdown as (

    -- the worst venue fund's fall from its 30-day high, % (a fund paying bankruptcy losses is a venue under stress)
    select
        date,
        'insurance_fund_drawdown' as component,
        max(drawdown_from_30d_high_pct) as value

    from insurance
    where drawdown_from_30d_high_pct is not null
    group by date

),

unioned as (

    select * from est_leverage_ratio
    union all
    select * from collateral_at_risk_10
    union all
    select * from debt_ledger_growth
    union all
    select * from liquidation_imbalance
    union all
    select * from stablecoin_peg_deviation
    union all
    select * from oi_weighted_funding
    union all
    select * from etf_flow_5d
    union all
    select * from cascade_minutes
    union all
    select * from spillover_index
    union all
    select * from venue_outage_minutes
    union all
    select * from insurance_fund_drawdown

),

final as (

    select
        unioned.date,
        unioned.component,
        weights.category,
        unioned.value,
        weights.direction as sign,
        weights.weight

    from unioned
    inner join weights on unioned.component = weights.component
    -- only days the warehouse has markets for (the lagged state components reach one day past the last)
    inner join spine on unioned.date = spine.date
    where unioned.value is not null

)

select * from final
