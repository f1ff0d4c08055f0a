with

cefi_by_venue as (

    select * from {{ ref('int_cefi_liquidation_curves') }}

),

defi as (

    select * from {{ ref('int_defi_liquidation_curves') }}

),

cefi as (

    select
        date,
        asset,
        shock_pct,
        sum(liquidatable_usd) as cefi_liquidatable_usd,
        count(*) as cefi_venues,
        -- the venues' day-end prices agree to a basis; their mean is the curve's anchor
        avg(reference_price) as reference_price

    from cefi_by_venue
    group by date, asset, shock_pct

),

final as (

    select
        coalesce(cefi.date, defi.date) as date,
        coalesce(cefi.asset, defi.asset) as asset,
        coalesce(cefi.shock_pct, defi.shock_pct) as shock_pct,
        cefi.reference_price,
        coalesce(cefi.cefi_liquidatable_usd, 0) as cefi_liquidatable_usd,
        coalesce(defi.defi_liquidatable_usd, 0) as defi_liquidatable_usd,
        coalesce(cefi.cefi_liquidatable_usd, 0) + coalesce(defi.defi_liquidatable_usd, 0) as total_liquidatable_usd,
        coalesce(cefi.cefi_venues, 0) as cefi_venues,
        'estimated' as cefi_basis,
        'estimated' as defi_basis

    from cefi
    full outer join defi
        on
            cefi.date = defi.date
            and cefi.asset = defi.asset
            and cefi.shock_pct = defi.shock_pct

)

select * from final
