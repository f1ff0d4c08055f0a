with

source as (

    select * from {{ source('okx', 'open_interest') }}

),

instruments as (

    select * from {{ ref('stg_okx__instruments') }}

),

renamed as (

    select
        venue,
        upper(trim(asset)) as asset,
        symbol,
        timezone('UTC', ts) as ts,
        oi_coin,
        oi_usd,
        oi_contracts

    from source
    where oi_coin is not null or oi_usd is not null or oi_contracts is not null

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
        renamed.venue,
        renamed.asset,
        renamed.symbol,
        renamed.ts,
        coalesce(
            renamed.oi_coin,
            case
                -- USDT swaps are sized in the coin (BTC-USDT-SWAP: 0.01 BTC); a USD-sized contract is not coins
                when coalesce(latest_contract_values.contract_value_ccy, renamed.asset) = renamed.asset
                    then renamed.oi_contracts * latest_contract_values.contract_value
            end
        ) as oi_coin,
        renamed.oi_usd,
        renamed.oi_contracts

    from renamed
    left join latest_contract_values
        on renamed.symbol = latest_contract_values.symbol

)

select * from final
