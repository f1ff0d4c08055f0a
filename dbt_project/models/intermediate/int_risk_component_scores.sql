-- Each component standardised the OFR way: its z-score against the previous var('risk_zscore_window_days')
-- days (never the day itself or a later one), signed so that stress is positive, capped at +-cap, and its
-- contribution in index points = weight x z. Fewer than var('risk_zscore_min_days') previous readings: no z
-- (and no contribution).
with

components as (

    select * from {{ ref('int_risk_components') }}

),

with_trailing as (

    select
        *,
        avg(value) over previous_days as trailing_mean,
        stddev_samp(value) over previous_days as trailing_sd,
        count(value) over previous_days as trailing_n

    from components
    window previous_days as (
        partition by component
        order by date
        range between interval {{ var('risk_zscore_window_days') }} days preceding and interval 1 day preceding
    )

),

scored as (

    select
        *,
        case
            when trailing_n >= {{ var('risk_zscore_min_days') }} and trailing_sd > 0
                then
                    least(
                        greatest(sign * (value - trailing_mean) / trailing_sd, -{{ var('risk_zscore_cap') }}),
                        {{ var('risk_zscore_cap') }}
                    )
        end as zscore

    from with_trailing

),

final as (

    select
        date,
        component,
        category,
        value,
        sign,
        weight,
        trailing_mean,
        trailing_sd,
        trailing_n,
        zscore,
        coalesce(weight * zscore, 0) as contribution

    from scored

)

select * from final
