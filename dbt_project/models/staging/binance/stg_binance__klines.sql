{{ stage_klines(source('binance', 'klines')) }}
