-- Binance does not report the interval (8h for most symbols, 4h for some): the macro derives it from the gaps
{{ stage_funding_rates(source('binance', 'funding_rates')) }}
