with

lending as (

    select * from {{ ref('stg_defillama__lending') }}

),

with_previous as (

    select
        *,
        lag(date) over (partition by protocol, chain order by date) as previous_date,
        lag(supplied_usd) over (partition by protocol, chain order by date) as previous_supplied_usd,
        lag(borrowed_usd) over (partition by protocol, chain order by date) as previous_borrowed_usd

    from lending

),

final as (

    select
        date,
        protocol,
        protocol_name,
        category,
        chain,
        supplied_usd,
        borrowed_usd,
        -- DefiLlama's TVL excludes what is lent out, so the deposits are TVL + borrowed
        borrowed_usd / nullif(supplied_usd + borrowed_usd, 0) as utilization,
        -- changes only against the calendar day before, never across a gap
        case when previous_date = date - 1 then supplied_usd - previous_supplied_usd end as supplied_usd_change,
        case when previous_date = date - 1 then borrowed_usd - previous_borrowed_usd end as borrowed_usd_change

    from with_previous

)

select * from final
