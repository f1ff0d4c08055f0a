{{ stage_insurance_funds(source('bybit', 'insurance_funds')) }}
