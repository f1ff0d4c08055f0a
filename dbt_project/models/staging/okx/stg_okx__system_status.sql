{{ stage_system_status('okx') }}
