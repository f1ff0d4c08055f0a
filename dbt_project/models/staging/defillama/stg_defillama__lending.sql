with

source as (

    select * from {{ source('defillama', 'lending') }}

),

renamed as (

    select
        venue,
        protocol,
        protocol_name,
        category,
        chain,
        cast(timezone('UTC', ts) as date) as date,
        supplied_usd,
        borrowed_usd

    from source

)

select * from renamed
