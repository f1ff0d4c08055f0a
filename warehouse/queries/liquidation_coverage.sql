-- How sure are the liquidation figures? Per venue and day: observed long/short, how the cell was covered, and
-- the minutes nobody watched (a recorder disconnect, or hours beyond the reach of every OKX REST run).
select
    date,
    venue,
    round(sum(long_usd) / 1e6, 1) as long_usd_m,
    round(sum(short_usd) / 1e6, 1) as short_usd_m,
    string_agg(distinct coverage, '/' order by coverage) as coverage,
    max(gap_minutes) as gap_minutes,
    round(sum(estimated_total_usd) / 1e6, 1) as estimated_total_usd_m,
from marts.liquidations_daily
where date between date '2025-10-09' and date '2025-10-12'
group by all
order by date, venue;

-- Put options positioning beside it: puts clustered at a strike, and the put/call ratio, per day.
-- select date, underlying, put_call_oi_ratio, top_put_strike from marts.options_positioning_daily order by all;
