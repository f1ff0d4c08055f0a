-- Estimated DeFi collateral liquidatable per day, asset and shock. No public source gives market-wide
-- per-position liquidation prices, so: each lending protocol's borrowed USD is split by collateral asset
-- (seed defi_collateral_assumptions), and its health factors follow a documented distribution: HF - 1 is
-- log-logistic with median var('defi_hf_median_excess') and shape var('defi_hf_shape'), so the share of debt
-- with HF <= h is 1 / (1 + ((h - 1) / median) ^ -shape). A fall s (< 0) of the collateral makes positions with
-- HF <= 1 / (1 + s) liquidatable; at that moment each holds collateral worth debt / LT. Only falls liquidate
-- (loans are long their collateral): rises give 0.
with

lending as (

    select * from {{ ref('defi_lending_daily') }}
    where borrowed_usd > 0

),

assumptions as (

    select * from {{ ref('defi_collateral_assumptions') }}

),

shocks as (

    select * from {{ ref('collateral_shocks') }}

),

protocol_assets as (

    -- listed protocols use their own rows, every other protocol the '*' rows
    select
        lending.date,
        lending.protocol,
        assumptions.asset,
        lending.borrowed_usd * assumptions.debt_share as debt_usd,
        assumptions.liquidation_threshold

    from lending
    inner join assumptions
        on
            lending.protocol = assumptions.protocol
            or (
                assumptions.protocol = '*'
                and lending.protocol not in (select distinct a.protocol from assumptions as a)
            )

),

curve as (

    select
        protocol_assets.date,
        protocol_assets.asset,
        shocks.shock_pct,
        sum(
            case
                when shocks.shock_pct < 0
                    then
                        protocol_assets.debt_usd / protocol_assets.liquidation_threshold
                        / (
                            1 + power(
                                (1 / (1 + shocks.shock_pct / 100) - 1) / {{ var('defi_hf_median_excess') }},
                                -{{ var('defi_hf_shape') }}
                            )
                        )
                else 0
            end
        ) as defi_liquidatable_usd

    from protocol_assets
    cross join shocks
    group by protocol_assets.date, protocol_assets.asset, shocks.shock_pct

)

select * from curve
