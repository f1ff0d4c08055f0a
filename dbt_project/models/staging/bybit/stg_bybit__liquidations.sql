-- Bybit's allLiquidation topic pushes every liquidation
{{ stage_liquidations(source('bybit', 'liquidations'), coverage='complete') }}
