{#- One insurance-fund reading per row, the same shape for every venue (OKX history, Binance and Bybit snapshots). -#}
{% macro stage_insurance_funds(relation) %}
with

source as (

    select * from {{ relation }}

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
{% endmacro %}
