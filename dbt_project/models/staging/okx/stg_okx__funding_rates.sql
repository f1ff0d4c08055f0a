-- OKX intervals vary (8/6/4/2/1h) and may change: when not reported, derived from the gaps
{{ stage_funding_rates(source('okx', 'funding_rates')) }}
