{#-
    One row per venue, asset and cell (grain 'hour' -> column ts, 'day' -> column date) of liquidations_hourly /
    liquidations_daily; the method is documented in models/marts/liquidations/liquidations_hourly.yml.
-#}
{% macro liquidation_cells(grain) -%}
{%- if grain == 'hour' -%}
    {%- set cell_column, cell_expr, cell_minutes, aggregate_interval = 'ts', "date_trunc('hour', {t})", 60, '1h' -%}
{%- elif grain == 'day' -%}
    {%- set cell_column, cell_expr, cell_minutes, aggregate_interval = 'date', 'cast({t} as date)', 1440, '1d' -%}
{%- else -%}
    {{ exceptions.raise_compiler_error("liquidation_cells: grain must be hour or day, got " ~ grain) }}
{%- endif -%}
{%- set cell_of = cell_expr | replace('{t}', 'ts') -%}
{%- set all_exchanges = var('coinglass_all_exchanges') -%}
with

liquidations as (

    select * from {{ ref('int_liquidations_unioned') }}
    where {{ in_run_window('ts') }}

),

gap_minutes_hourly as (

    select * from {{ ref('int_liquidation_gap_minutes_hourly') }}
    where {{ in_run_window('ts') }}

),

aggregates as (

    select * from {{ ref('stg_coinglass__liquidation_aggregates') }}
    where aggregate_interval = '{{ aggregate_interval }}' and {{ in_run_window('ts') }}

),

assets as (

    select asset from {{ ref('asset_supply') }}

),

observed as (

    select
        venue,
        asset,
        {{ cell_of }} as {{ cell_column }},
        coalesce(sum(notional_usd) filter (where side = 'long'), 0) as long_usd,
        coalesce(sum(notional_usd) filter (where side = 'short'), 0) as short_usd,
        count(*) filter (where source != 'aggregate') as venue_events,
        count(*) filter (where source = 'aggregate') as aggregate_rows,
        bool_or(coverage = 'sampled') as has_sampled_rows

    from liquidations
    group by venue, asset, {{ cell_of }}

),

venue_gap_minutes as (

    select
        venue,
        {{ cell_of }} as {{ cell_column }},
        sum(gap_minutes) as gap_minutes

    from gap_minutes_hourly
    group by venue, {{ cell_of }}

),

-- A recorder gap silences the whole venue connection, and a REST run's reach is the same for every asset, so a
-- gap concerns every asset, with events or not
gap_cells as (

    select
        venue_gap_minutes.venue,
        assets.asset,
        venue_gap_minutes.{{ cell_column }},
        venue_gap_minutes.gap_minutes

    from venue_gap_minutes
    cross join assets

),

cells as (

    select
        coalesce(observed.venue, gap_cells.venue) as venue,
        coalesce(observed.asset, gap_cells.asset) as asset,
        coalesce(observed.{{ cell_column }}, gap_cells.{{ cell_column }}) as {{ cell_column }},
        coalesce(observed.long_usd, 0) as long_usd,
        coalesce(observed.short_usd, 0) as short_usd,
        coalesce(observed.venue_events, 0) as venue_events,
        coalesce(observed.aggregate_rows, 0) as aggregate_rows,
        coalesce(observed.has_sampled_rows, false) as has_sampled_rows,
        gap_cells.gap_minutes

    from observed
    full outer join gap_cells
        on
            observed.venue = gap_cells.venue
            and observed.asset = gap_cells.asset
            and observed.{{ cell_column }} = gap_cells.{{ cell_column }}

),

covered as (

    select
        venue,
        asset,
        {{ cell_column }},
        long_usd,
        short_usd,
        long_usd + short_usd as total_usd,
        cast(venue_events as integer) as venue_events,
        case
            when venue_events = 0 and aggregate_rows > 0 then 'aggregate_only'
            when venue_events = 0 and gap_minutes >= {{ cell_minutes }} then 'none'
            when has_sampled_rows or aggregate_rows > 0 or gap_minutes > 0 then 'sampled'
            else 'complete'
        end as coverage,
        least(coalesce(gap_minutes, 0), {{ cell_minutes }}) as gap_minutes

    from cells

),

-- What the complete venues add up to in each cell, to take away from CoinGlass's all-exchange figure
complete_venues as (

    select
        asset,
        {{ cell_column }},
        count(*) as complete_venues,
        sum(total_usd) as complete_total_usd

    from covered
    where coverage = 'complete' and venue in ('{{ all_exchanges | join("', '") }}')
    group by asset, {{ cell_column }}

),

estimated as (

    select
        covered.*,
        case
            when covered.coverage in ('complete', 'aggregate_only') then covered.total_usd
            when covered.coverage = 'sampled' and exchange_aggregate.total_usd is not null
                then greatest(covered.total_usd, exchange_aggregate.total_usd)
            when
                covered.coverage = 'sampled'
                and covered.venue in ('{{ all_exchanges | join("', '") }}')
                and complete_venues.complete_venues = {{ all_exchanges | length - 1 }}
                and all_aggregate.total_usd is not null
                then greatest(covered.total_usd, all_aggregate.total_usd - complete_venues.complete_total_usd)
        end as estimated_total_usd,
        case
            when covered.coverage = 'complete' then 'observed'
            when covered.coverage = 'aggregate_only' then 'aggregate'
            when covered.coverage = 'sampled' and exchange_aggregate.total_usd is not null
                then 'exchange_aggregate'
            when
                covered.coverage = 'sampled'
                and covered.venue in ('{{ all_exchanges | join("', '") }}')
                and complete_venues.complete_venues = {{ all_exchanges | length - 1 }}
                and all_aggregate.total_usd is not null
                then 'all_aggregate_less_complete_venues'
        end as estimate_method

    from covered
    left join aggregates as exchange_aggregate
        on
            covered.venue = exchange_aggregate.covers_venue
            and covered.asset = exchange_aggregate.asset
            and covered.{{ cell_column }} = {{ cell_expr | replace('{t}', 'exchange_aggregate.ts') }}
    left join aggregates as all_aggregate
        on
            all_aggregate.covers_venue = 'all'
            and covered.asset = all_aggregate.asset
            and covered.{{ cell_column }} = {{ cell_expr | replace('{t}', 'all_aggregate.ts') }}
    left join complete_venues
        on
            covered.asset = complete_venues.asset
            and covered.{{ cell_column }} = complete_venues.{{ cell_column }}

),

final as (

    select
        venue,
        asset,
        {{ cell_column }},
        long_usd,
        short_usd,
        total_usd,
        100 * greatest(long_usd, short_usd) / nullif(least(long_usd, short_usd), 0) as liquidation_imbalance_pct,
        case
            when long_usd > short_usd then 'long'
            when short_usd > long_usd then 'short'
            when long_usd > 0 then 'balanced'
        end as dominant_side,
        venue_events,
        coverage,
        gap_minutes,
        estimated_total_usd,
        estimate_method

    from estimated

)

select * from final
{%- endmacro %}
