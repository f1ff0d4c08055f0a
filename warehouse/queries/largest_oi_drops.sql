-- The days with the largest aggregate open-interest drop, with BTC's move and OI-weighted funding.
-- duckdb -readonly warehouse/levwatch.duckdb < warehouse/queries/largest_oi_drops.sql
select
    date,
    round(sum(oi_usd) / 1e9, 2) as oi_usd_bn,
    round(sum(oi_usd_change) / 1e9, 2) as oi_change_bn,
    round(max(case when asset = 'BTC' then return_pct end), 2) as btc_return_pct,
    round(sum(funding_rate_8h_oi_weighted * oi_usd) / sum(oi_usd) * 100, 4) as funding_pct_8h,
from marts.leverage_daily
group by date
order by oi_change_bn asc nulls last
limit 10;
