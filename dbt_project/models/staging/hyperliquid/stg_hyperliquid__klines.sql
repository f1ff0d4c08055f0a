{{ stage_klines(source('hyperliquid', 'klines')) }}
