-- One minute series per measure, venue and asset: the inputs of the lead-lag pairs. Liquidations enter as the
-- minute's liquidated USD.
{{ contagion_series(ref('int_klines_1m_unioned'), 'minute') }}
