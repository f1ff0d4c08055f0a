{{ stage_klines(source('okx', 'klines')) }}
