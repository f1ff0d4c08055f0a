with

source as (

    select * from {{ source('okx', 'instruments') }}

),

renamed as (

    select
        {{ stage_keys('ts', 'snapshot_at') }}
        contract_value,
        upper(contract_value_ccy) as contract_value_ccy,
        state

    from source

)

select * from renamed
