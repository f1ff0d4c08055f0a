{{ stage_long_short_ratios(source('binance', 'long_short_ratios')) }}
