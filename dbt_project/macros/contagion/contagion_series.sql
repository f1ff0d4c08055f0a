{#-
    One series per measure, venue and asset at one grain ('hour' or 'minute'): log returns of the venue's price (mark
    where it serves one, else the traded price; never bridged across a missing step) and liquidated USD from the
    venues' own feeds (CoinGlass rows are aggregates over venues). `liquidation_value` is the SQL of the step's value
    over `liquidated_usd`; `with_node` adds node = venue:asset (the spillover VAR's variable name).
-#}
{% macro contagion_series(klines, grain, liquidation_value='liquidated_usd', with_node=false) -%}
with

klines as (

    select * from {{ klines }}
    where price_type in ('mark', 'last')

),

liquidations as (

    select * from {{ ref('int_liquidations_unioned') }}
    where source != 'aggregate'

),

-- one price per venue and asset: mark where the venue serves it, else the traded price
preferred_prices as (

    select
        venue,
        asset,
        ts,
        close

    from klines
    qualify row_number() over (
        partition by venue, asset, ts order by case price_type when 'mark' then 0 else 1 end
    ) = 1

),

with_previous as (

    select
        *,
        lag(ts) over by_step as previous_ts,
        lag(close) over by_step as previous_close

    from preferred_prices
    window by_step as (partition by venue, asset order by ts)

),

step_returns as (

    select
        'returns' as measure,
        venue,
        asset,
        ts,
        ln(close / previous_close) as value

    from with_previous
    where previous_ts = ts - interval 1 {{ grain }} and close > 0 and previous_close > 0

),

step_liquidated as (

    select
        venue,
        asset,
        date_trunc('{{ grain }}', ts) as ts,
        sum(notional_usd) as liquidated_usd

    from liquidations
    group by venue, asset, date_trunc('{{ grain }}', ts)

),

step_liquidations as (

    select
        'liquidations' as measure,
        venue,
        asset,
        ts,
        {{ liquidation_value }} as value

    from step_liquidated

),

unioned as (

    select * from step_returns
    union all
    select * from step_liquidations

),

final as (

    select
        measure,
        venue,
        asset,
        {% if with_node -%} venue || ':' || asset as node, {%- endif %}
        ts,
        value

    from unioned

)

select * from final
{%- endmacro %}
