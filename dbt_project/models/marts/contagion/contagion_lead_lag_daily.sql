with

pairs as (

    select * from {{ ref('int_contagion_lead_lag_pairs') }}

),

final as (

    select
        date,
        measure,
        asset,
        venue_a,
        venue_b,
        best_lag_minutes,
        correlation,
        minutes,
        case
            when best_lag_minutes > 0 then venue_a
            when best_lag_minutes < 0 then venue_b
        end as leader

    from pairs

)

select * from final
