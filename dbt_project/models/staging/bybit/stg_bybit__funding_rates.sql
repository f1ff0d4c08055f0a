-- Bybit funding history carries no interval (8h by default, 4h/1h for some symbols): derived from the gaps
{{ stage_funding_rates(source('bybit', 'funding_rates')) }}
