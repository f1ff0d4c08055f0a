-- 8h-equivalent funding by venue and day for one asset.
select
    venue,
    funding_time::date as day,
    round(avg(funding_rate_8h) * 100, 4) as avg_funding_pct_8h,
    count(*) as settlements,
from marts.fct_funding_rates
where asset = 'BTC'
group by all
order by day, venue;
