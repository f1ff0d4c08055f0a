{{ stage_liquidation_gaps(source('bybit', 'liquidation_gaps')) }}
