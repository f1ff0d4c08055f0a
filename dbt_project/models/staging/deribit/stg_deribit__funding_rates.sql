-- Deribit's perpetual funding accrues continuously; get_funding_rate_history reports it per hour (interest_1h),
-- so every row covers one hour and funding_rate_8h = funding_rate * 8.
{{ stage_funding_rates(source('deribit', 'funding_rates'), interval_hours_fallback='1.0') }}
