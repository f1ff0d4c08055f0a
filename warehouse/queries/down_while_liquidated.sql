-- Was a venue down while its users were liquidated? Per venue and hour (UTC): the hours a venue failed our
-- requests (outage minutes: from a timeout or 5xx until its next answer), lost its liquidation feed (recorder gap
-- minutes), or announced an incident or maintenance on its status endpoint, and its users were still liquidated
-- (long or short USD > 0; where its own feed was down, CoinGlass's per-exchange figure stands in: coverage
-- aggregate_only). "Binance was down while its users were liquidated" is the rows with venue = 'binance'.
-- Outage minutes are a lower bound: the request log sees a venue only while something asked it. Status flags are
-- null for venues without a public status endpoint (Binance USD-M, Hyperliquid) and before status recording began.
select
    venue,
    ts as hour_utc,
    round(outage_minutes, 1) as outage_minutes,
    round(recorder_gap_minutes, 1) as recorder_gap_minutes,
    status_incident,
    status_maintenance,
    request_count,
    round(error_rate, 3) as error_rate,
    round(long_usd / 1e6, 2) as long_usd_m,
    round(short_usd / 1e6, 2) as short_usd_m,
    round(total_usd / 1e6, 2) as total_usd_m,
    liquidation_coverage,
from marts.venue_operational_risk
where is_degraded and total_usd > 0
order by ts, venue;
