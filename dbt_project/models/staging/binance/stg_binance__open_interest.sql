{{ stage_open_interest(source('binance', 'open_interest')) }}
