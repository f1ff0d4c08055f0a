{#-
    A full rebuild each run (a table, not incremental): the cumulative flow since launch and the 5-day sums need
    every earlier trading day, and ETF history is small (a row per fund and trading day).
-#}

with

flows as (

    select * from {{ ref('stg_farside__etf_flows') }}

),

-- The underlying's daily return (UTC close over the previous UTC close) from the leverage mart
underlying_returns as (

    select
        date,
        asset,
        return_pct

    from {{ ref('leverage_daily') }}

),

day_totals as (

    select
        flow_date,
        underlying,
        sum(flow_usd) as day_total_flow_usd,
        max(published_total_usd) as published_total_usd

    from flows
    group by flow_date, underlying

),

-- Windows count rows, and rows are trading days: the 5-day sum spans five trading days, weekends skipped
day_running as (

    select
        flow_date,
        underlying,
        day_total_flow_usd,
        published_total_usd,
        sum(day_total_flow_usd) over (
            partition by underlying order by flow_date rows between 4 preceding and current row
        ) as flow_5d_usd,
        sum(day_total_flow_usd) over (
            partition by underlying order by flow_date rows between unbounded preceding and current row
        ) as cumulative_flow_usd

    from day_totals

),

fund_running as (

    select
        flow_date,
        underlying,
        ticker,
        issuer,
        flow_usd,
        source,
        sum(flow_usd) over (
            partition by underlying, ticker order by flow_date rows between unbounded preceding and current row
        ) as fund_cumulative_flow_usd

    from flows

),

final as (

    select
        fund_running.flow_date as date,
        fund_running.underlying,
        fund_running.ticker,
        fund_running.issuer,
        fund_running.flow_usd,
        fund_running.fund_cumulative_flow_usd,
        day_running.day_total_flow_usd,
        day_running.flow_5d_usd,
        day_running.cumulative_flow_usd,
        day_running.published_total_usd,
        day_running.day_total_flow_usd - day_running.published_total_usd as published_total_gap_usd,
        underlying_returns.return_pct as underlying_return_pct,
        fund_running.source

    from fund_running
    inner join day_running
        on
            fund_running.flow_date = day_running.flow_date
            and fund_running.underlying = day_running.underlying
    left join underlying_returns
        on
            fund_running.flow_date = underlying_returns.date
            and fund_running.underlying = underlying_returns.asset

)

select * from final
