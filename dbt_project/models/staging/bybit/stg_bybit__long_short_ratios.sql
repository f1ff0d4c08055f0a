{{ stage_long_short_ratios(source('bybit', 'long_short_ratios')) }}
