with

-- OKX also reports open interest in contracts, which the instruments' contract sizes turn into coins
open_interest as (

    {{ stage_open_interest(source('okx', 'open_interest'), extra_columns=['oi_contracts']) }}

),

instruments as (

    select * from {{ ref('stg_okx__instruments') }}

),

-- Contract sizes rarely change, so the latest snapshot per symbol converts contracts to coins.
latest_contract_values as (

    select
        symbol,
        contract_value,
        contract_value_ccy

    from instruments
    where contract_value is not null
    qualify row_number() over (partition by symbol order by snapshot_at desc) = 1

),

final as (

    select
        open_interest.venue,
        open_interest.asset,
        open_interest.symbol,
        open_interest.ts,
        coalesce(
            open_interest.oi_coin,
            case
                -- USDT swaps are sized in the coin (BTC-USDT-SWAP: 0.01 BTC); a USD-sized contract is not coins
                when coalesce(latest_contract_values.contract_value_ccy, open_interest.asset) = open_interest.asset
                    then open_interest.oi_contracts * latest_contract_values.contract_value
            end
        ) as oi_coin,
        open_interest.oi_usd,
        open_interest.oi_contracts

    from open_interest
    left join latest_contract_values
        on open_interest.symbol = latest_contract_values.symbol

)

select * from final
