-- One hourly series per measure and node (venue:asset): the inputs of the spillover VARs. Liquidations enter as
-- ln(1 + the hour's liquidated USD).
{{ contagion_series(ref('int_klines_hourly_unioned'), 'hour', 'ln(1 + liquidated_usd)', with_node=true) }}
