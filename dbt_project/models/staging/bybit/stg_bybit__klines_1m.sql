{{ stage_klines_1m(source('bybit', 'klines_1m')) }}
