-- Hyperliquid settles hourly since 2023-06-08 (8-hourly before). Not derived from gaps: one missed
-- hour would look like a 2h interval and halve the 8h-equivalent rate.
{{ stage_funding_rates(
    source('hyperliquid', 'funding_rates'),
    interval_hours_fallback="case when funding_time < timestamp '2023-06-08' then 8.0 else 1.0 end",
) }}
