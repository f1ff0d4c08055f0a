with

source as (

    select * from {{ source('farside', 'etf_flows') }}

),

renamed as (

    select
        venue,
        upper(trim(asset)) as underlying,
        upper(trim(symbol)) as ticker,
        -- the trading day; lake rows sit at 00:00 UTC of it
        cast(timezone('UTC', ts) as date) as flow_date,
        flow_usd,
        issuer,
        source,
        -- the page's (or the CSV's) own Total for the day, US$m in raw -> US$
        try_cast(json_extract_string(raw, '$.total_usd_m') as double) * 1000000 as published_total_usd

    from source

)

select * from renamed
