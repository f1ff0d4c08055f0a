{{ stage_system_status('bybit') }}
