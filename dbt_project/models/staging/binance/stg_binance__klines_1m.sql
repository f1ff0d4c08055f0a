{{ stage_klines_1m(source('binance', 'klines_1m')) }}
