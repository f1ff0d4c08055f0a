{{ stage_insurance_funds(source('binance', 'insurance_funds')) }}
