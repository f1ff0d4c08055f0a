{{ stage_system_status('deribit') }}
