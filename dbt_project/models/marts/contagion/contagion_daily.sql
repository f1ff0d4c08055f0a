{%- set etf_days_after = var('contagion_etf_days_after') | int -%}
{%- set min_correlation = var('contagion_lead_lag_min_correlation') -%}
with

spillover as (

    select * from {{ ref('int_contagion_spillover_windows') }}

),

lead_lag as (

    select * from {{ ref('contagion_lead_lag_daily') }}

),

flagged_minutes as (

    select * from {{ ref('int_liquidation_minutes_flagged') }}

),

-- the cascade detector's flagged minutes, one row per venue with liquidations in the minute
cascade_minutes as (

    select
        cast(flagged_minutes.minute_ts as date) as date,
        flagged_minutes.minute_ts as ts,
        flagged_minutes.asset,
        venue_list.venue

    from flagged_minutes,
        unnest(flagged_minutes.venues) as venue_list (venue)
    where flagged_minutes.is_flagged

),

defi_lending as (

    select * from {{ ref('defi_lending_daily') }}

),

etf_flows as (

    select * from {{ ref('etf_flows_daily') }}

),

assets as (

    select asset from {{ ref('asset_supply') }}

),

spillover_days as (

    select
        date,
        max(total_spillover_index) filter (where measure = 'returns') as returns_spillover_index,
        max(total_spillover_index) filter (where measure = 'liquidations') as liquidations_spillover_index,
        coalesce(max(nodes_in_var) filter (where measure = 'returns'), 0) as returns_nodes,
        coalesce(max(nodes_in_var) filter (where measure = 'liquidations'), 0) as liquidations_nodes

    from spillover
    group by date

),

-- the strongest pair whose best lag is not 0, per day and measure
leads as (

    select
        date,
        measure,
        count(*) over by_day as lead_pairs,
        leader
        || '>'
        || case when leader = venue_a then venue_b else venue_a end
        || ' '
        || asset as top_lead,
        abs(best_lag_minutes) as top_lead_minutes,
        correlation as top_lead_correlation

    from lead_lag
    where best_lag_minutes != 0 and correlation >= {{ min_correlation }}
    window by_day as (partition by date, measure)
    qualify row_number() over (
        partition by date, measure order by correlation desc, asset asc, venue_a asc, venue_b asc
    ) = 1

),

-- how many venues and assets were inside a cascade in the same minute
minute_spread as (

    select
        date,
        ts,
        count(distinct venue) as venues,
        count(distinct asset) as assets

    from cascade_minutes
    group by date, ts

),

co_movement as (

    select
        date,
        count(*) as cascade_minutes,
        max(venues) / {{ var('liquidation_venues') | length }} as max_venue_share,
        max(assets) / (select count(*) from assets) as max_asset_share

    from minute_spread
    group by date

),

borrowed_by_day as (

    select
        date,
        protocol,
        chain,
        borrowed_usd

    from defi_lending
    where borrowed_usd is not null

),

-- borrowed on the next day's point against the cascade day's, over protocol-chains present on both days
defi_after as (

    select
        co_movement.date,
        100 * (sum(next_day.borrowed_usd) - sum(cascade_day.borrowed_usd))
        / nullif(sum(cascade_day.borrowed_usd), 0) as defi_borrowed_change_pct_24h

    from co_movement
    inner join borrowed_by_day as cascade_day on co_movement.date = cascade_day.date
    inner join borrowed_by_day as next_day
        on
            cascade_day.protocol = next_day.protocol
            and cascade_day.chain = next_day.chain
            and cascade_day.date + interval 1 day = next_day.date
    group by co_movement.date

),

etf_day_underlyings as (

    select distinct
        date,
        underlying,
        day_total_flow_usd

    from etf_flows

),

etf_day_totals as (

    select
        date,
        sum(day_total_flow_usd) as flow_usd

    from etf_day_underlyings
    group by date

),

-- the first N US trading days after the cascade day (rows exist only on trading days)
etf_days_ranked as (

    select
        co_movement.date,
        etf_day_totals.flow_usd,
        row_number() over (partition by co_movement.date order by etf_day_totals.date) as trading_day_after

    from co_movement
    inner join etf_day_totals on co_movement.date < etf_day_totals.date

),

etf_after as (

    select
        date,
        sum(flow_usd) as etf_flow_after_usd,
        count(*) as etf_days_after

    from etf_days_ranked
    where trading_day_after <= {{ etf_days_after }}
    group by date

),

days as (

    select date from spillover_days
    union
    select date from co_movement

),

final as (

    select
        days.date,
        spillover_days.returns_spillover_index,
        spillover_days.liquidations_spillover_index,
        coalesce(spillover_days.returns_nodes, 0) as returns_nodes,
        coalesce(spillover_days.liquidations_nodes, 0) as liquidations_nodes,
        coalesce(return_leads.lead_pairs, 0) as returns_lead_pairs,
        return_leads.top_lead as returns_top_lead,
        return_leads.top_lead_minutes as returns_top_lead_minutes,
        return_leads.top_lead_correlation as returns_top_lead_correlation,
        coalesce(liquidation_leads.lead_pairs, 0) as liquidations_lead_pairs,
        liquidation_leads.top_lead as liquidations_top_lead,
        liquidation_leads.top_lead_minutes as liquidations_top_lead_minutes,
        liquidation_leads.top_lead_correlation as liquidations_top_lead_correlation,
        co_movement.date is not null as cascade_day,
        coalesce(co_movement.cascade_minutes, 0) as cascade_minutes,
        coalesce(co_movement.max_venue_share, 0) as max_venue_share,
        coalesce(co_movement.max_asset_share, 0) as max_asset_share,
        defi_after.defi_borrowed_change_pct_24h,
        etf_after.etf_flow_after_usd,
        coalesce(etf_after.etf_days_after, 0) as etf_days_after

    from days
    left join spillover_days on days.date = spillover_days.date
    left join leads as return_leads on days.date = return_leads.date and return_leads.measure = 'returns'
    left join leads as liquidation_leads
        on days.date = liquidation_leads.date and liquidation_leads.measure = 'liquidations'
    left join co_movement on days.date = co_movement.date
    left join defi_after on days.date = defi_after.date
    left join etf_after on days.date = etf_after.date

)

select * from final
