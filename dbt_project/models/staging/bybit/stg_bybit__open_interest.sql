-- Bybit's history has coins only (oi_usd is null); int_open_interest_hourly prices it from the hour's kline
{{ stage_open_interest(source('bybit', 'open_interest')) }}
