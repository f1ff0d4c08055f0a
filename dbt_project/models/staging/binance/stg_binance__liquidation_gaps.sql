{{ stage_liquidation_gaps(source('binance', 'liquidation_gaps')) }}
