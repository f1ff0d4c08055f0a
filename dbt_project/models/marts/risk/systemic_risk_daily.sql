{#- The components shown as columns; a new component adds its name here (and three columns in the YAML). -#}
{%- set components = [
    'est_leverage_ratio', 'collateral_at_risk_10', 'debt_ledger_growth', 'liquidation_imbalance',
    'stablecoin_peg_deviation', 'oi_weighted_funding', 'etf_flow_5d', 'cascade_minutes', 'spillover_index',
    'venue_outage_minutes', 'insurance_fund_drawdown',
] -%}
{%- set categories = ['leverage', 'liquidations', 'contagion', 'funding_and_liquidity', 'infrastructure'] -%}

with

scores as (

    select * from {{ ref('int_risk_component_scores') }}

),

totals as (

    select
        date,
        sum(contribution) as risk_score,
        -- the component that pushed the index up most; none on a day without a positive contribution
        case when max(contribution) > 0 then arg_max(component, contribution) end as driver,
        case when max(contribution) > 0 then arg_max(category, contribution) end as driver_category,
        {% for category in categories -%}
            coalesce(sum(contribution) filter (where category = '{{ category }}'), 0) as {{ category }}_subindex,
        {% endfor -%}
        {% for component in components -%}
            max(value) filter (where component = '{{ component }}') as {{ component }},
            max(zscore) filter (where component = '{{ component }}') as {{ component }}_z,
            coalesce(max(contribution) filter (where component = '{{ component }}'), 0) as {{ component }}_contribution,
        {% endfor -%}
        count(zscore) as components_scored,
        -- the share of the day's component weight that has a z-score (enough history to be scored)
        sum(weight) filter (where zscore is not null) / sum(weight) as scored_weight_share

    from scores
    group by date

),

indexed as (

    select
        *,
        coalesce(scored_weight_share, 0) >= {{ var('risk_min_scored_weight_share') }} as indexed

    from totals

),

final as (

    select
        date,
        -- 50 is a day where every component sits at its trailing mean; each point is weight x z. A day whose
        -- scored components carry less than var('risk_min_scored_weight_share') of the weight has no index: without
        -- history it is unknown, not an ordinary 50
        case when indexed then least(greatest(50 + risk_score, 0), 100) end as risk_index,
        risk_score,
        case when indexed then driver end as driver,
        case when indexed then driver_category end as driver_category,
        {% for category in categories -%}
            {{ category }}_subindex,
        {% endfor -%}
        {% for component in components -%}
            {{ component }},
            {{ component }}_z,
            {{ component }}_contribution,
        {% endfor -%}
        components_scored,
        coalesce(scored_weight_share, 0) as scored_weight_share

    from indexed

)

select * from final
