{{ stage_klines_1m(source('hyperliquid', 'klines_1m')) }}
