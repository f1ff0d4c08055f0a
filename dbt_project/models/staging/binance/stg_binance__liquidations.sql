-- Binance pushes at most one liquidation per symbol per second (the latest): a sample
{{ stage_liquidations(source('binance', 'liquidations'), coverage='sampled') }}
