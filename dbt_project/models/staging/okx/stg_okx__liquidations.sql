-- OKX REST serves every filled liquidation order of the last 24 hours
{{ stage_liquidations(source('okx', 'liquidations'), coverage='complete') }}
