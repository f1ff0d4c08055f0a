with

source as (

    select * from {{ source('binance', 'insurance_funds') }}

),

renamed as (

    select
        {{ stage_keys('ts') }}
        pool,
        upper(currency) as currency,
        entry_type,
        balance,
        -- the venue's USD value where it states one, else USD stablecoins at 1:1 (others stay null)
        coalesce(
            balance_usd,
            case when upper(currency) in ('USDT', 'USDC', 'USD', 'FDUSD') then balance end
        ) as balance_usd,
        amount,
        adl_type,
        max_balance,
        timezone('UTC', max_balance_ts) as max_balance_ts,
        timezone('UTC', updated_at) as updated_at

    from source

)

select * from renamed
