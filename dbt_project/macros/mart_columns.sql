{#-
    The columns a venue-unioned intermediate model hands on to its mart, in the mart's order. Kept in one place
    so the two cannot drift; the mart contracts (models/marts/leverage/*.yml) pin their names and types.
-#}
{% macro mart_columns(dataset) -%}
    {%- set columns = {
        'funding_rates': [
            'venue', 'asset', 'funding_time', 'funding_rate', 'funding_rate_8h', 'funding_interval_hours', 'mark_price',
        ],
        'prices_hourly': [
            'venue', 'asset', 'ts', 'price_type', 'open', 'high', 'low', 'close', 'volume_coin', 'volume_usd',
        ],
        'prices_1m': ['venue', 'asset', 'ts', 'price_type', 'open', 'high', 'low', 'close'],
        'long_short_ratios': ['venue', 'asset', 'ts', 'ratio_type', 'long_share', 'long_short_ratio'],
        'open_interest': ['venue', 'asset', 'ts', 'oi_coin', 'oi_usd'],
    } -%}
    {{ return(columns[dataset]) }}
{%- endmacro %}

{#- A select list, one column a line, at the indent of a CTE's select. -#}
{% macro select_list(columns) -%}
    {{ columns | join(',\n        ') }}
{%- endmacro %}
