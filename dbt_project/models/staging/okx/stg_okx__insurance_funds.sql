{{ stage_insurance_funds(source('okx', 'insurance_funds')) }}
