{{ stage_long_short_ratios(source('okx', 'long_short_ratios')) }}
