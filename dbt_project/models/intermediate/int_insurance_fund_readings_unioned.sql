{%- set venues = var('insurance_fund_venues') -%}
{%- set columns = [
    'venue', 'asset', 'pool', 'currency', 'entry_type', 'ts', 'balance', 'balance_usd', 'amount', 'adl_type',
    'max_balance', 'max_balance_ts',
] -%}

with

unioned as (

    {{ union_venue_staging('insurance_funds', venues, columns) }}

),

-- a pool shared by several assets was read once per asset: keep one reading (the first asset's, by name)
deduplicated as (

    select *
    from unioned
    qualify row_number() over (
        partition by venue, pool, currency, entry_type, ts order by asset
    ) = 1

)

select * from deduplicated
