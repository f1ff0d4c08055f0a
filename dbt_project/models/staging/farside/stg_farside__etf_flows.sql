with

page_rows as (

    select * from {{ source('farside', 'etf_flows') }}

),

csv_rows as (

    select * from {{ source('farside', 'etf_flows_csv') }}

),

-- A row loaded by hand from the CSV drop folder replaces the page's row for the same fund and day
unioned as (

    select * from csv_rows

    union all by name

    select * from page_rows
    where not exists (
        select 1
        from csv_rows
        where
            csv_rows.asset = page_rows.asset
            and csv_rows.symbol = page_rows.symbol
            and csv_rows.ts = page_rows.ts
    )

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

    from unioned

)

select * from renamed
