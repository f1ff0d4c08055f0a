{{ stage_klines_1m(source('okx', 'klines_1m')) }}
