-- Each component standardised the OFR way: its z-score against the previous var('risk_zscore_window_days')
-- days (never the day itself or a later one), signed so that stress is positive (direction 0: two-sided, |z|),
-- capped at +-cap, and its contribution in index points = weight x z. Fewer than var('risk_zscore_min_days')
-- previous readings: no z (and no contribution). A window without spread scores a day that departs from it at the
-- cap, and one that does not at 0.
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
            when trailing_n < {{ var('risk_zscore_min_days') }} then null
            -- a history that never moved: a day that moves away from it is the cap (unprecedented), else 0
            when trailing_sd is null or trailing_sd <= 1e-9 * greatest(abs(trailing_mean), 1)
                then
                    case
                        when abs(value - trailing_mean) <= 1e-9 * greatest(abs(trailing_mean), 1) then 0
                        else {{ var('risk_zscore_cap') }} * sign(value - trailing_mean)
                    end
            else (value - trailing_mean) / trailing_sd
        end as raw_zscore

    from with_trailing

),

signed as (

    -- direction 0 is two-sided: a move either way from the norm is stress (greatest/least skip nulls: keep them)
    select
        *,
        case
            when raw_zscore is not null
                then
                    least(
                        greatest(
                            case when sign = 0 then abs(raw_zscore) else sign * raw_zscore end,
                            -{{ var('risk_zscore_cap') }}
                        ),
                        {{ var('risk_zscore_cap') }}
                    )
        end as zscore

    from scored

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

    from signed

)

select * from final
