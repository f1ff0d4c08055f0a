with

source as (

    select * from {{ source('okx', 'instruments') }}

),

renamed as (

    select
        venue,
        upper(trim(asset)) as asset,
        symbol,
        timezone('UTC', ts) as snapshot_at,
        contract_value,
        upper(contract_value_ccy) as contract_value_ccy,
        state

    from source

)

select * from renamed
