{{ stage_klines(source('bybit', 'klines')) }}
