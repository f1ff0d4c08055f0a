{#-
    The crypto debt ledger, daily: Galaxy Research's quarterly components (DeFi lending apps, CDP stablecoins, CeFi
    lenders, treasury-company debt) rebuilt from the lake and the disclosure seeds, with perp OI as a separate line.
-#}
{%- set lending_categories = var('defi_lending_categories', ['Lending']) -%}
{%- set cdp_stablecoins = var('cdp_stablecoins', ['DAI', 'USDS', 'GHO', 'crvUSD', 'LUSD', 'BOLD']) -%}
{%- set stale_after_days = var('disclosure_stale_after_days', 120) -%}

with

lending as (

    select * from {{ ref('stg_defillama__lending') }}

),

stablecoins as (

    select * from {{ ref('stg_defillama__stablecoins') }}

),

cefi_disclosures as (

    select * from {{ ref('cefi_lender_disclosures') }}

),

treasury_debt as (

    select * from {{ ref('treasury_company_debt') }}

),

leverage as (

    select * from {{ ref('leverage_daily') }}

),

defi_borrowed as (

    select
        date,
        sum(borrowed_usd) as defi_borrowed_usd

    from lending
    where category in ({{ "'" ~ lending_categories | join("', '") ~ "'" }})
    group by date

),

cdp_supply as (

    select
        date,
        sum(supply_usd) as cdp_stablecoin_supply_usd

    from stablecoins
    where chain = 'all' and symbol in ({{ "'" ~ cdp_stablecoins | join("', '") ~ "'" }})
    group by date

),

days as (

    select date from defi_borrowed
    union
    select date from cdp_supply

),

cefi_quarters as (

    select
        quarter,
        max(as_of) as as_of,
        sum(outstanding_usd) as outstanding_usd,
        string_agg(distinct source_url, ' ' order by source_url) as source_urls

    from cefi_disclosures
    group by quarter

),

-- The latest quarter disclosed on or before each day, carried forward
cefi_book as (

    select
        days.date,
        cefi_quarters.quarter as cefi_quarter,
        cefi_quarters.as_of as cefi_as_of,
        cefi_quarters.outstanding_usd as cefi_lender_book_usd

    from days
    asof left join cefi_quarters
        on days.date >= cefi_quarters.as_of

),

treasury_book as (

    select
        days.date,
        treasury_debt.quarter as treasury_quarter,
        treasury_debt.as_of as treasury_as_of,
        treasury_debt.outstanding_usd as treasury_company_debt_usd

    from days
    asof left join treasury_debt
        on days.date >= treasury_debt.as_of

),

perp_oi as (

    select
        date,
        sum(oi_usd) as perp_oi_usd

    from leverage
    group by date

),

joined as (

    select
        days.date,
        defi_borrowed.defi_borrowed_usd,
        cdp_supply.cdp_stablecoin_supply_usd,
        cefi_book.cefi_lender_book_usd,
        cefi_book.cefi_quarter,
        cefi_book.cefi_as_of,
        days.date - cefi_book.cefi_as_of > {{ stale_after_days }} as cefi_stale,
        treasury_book.treasury_company_debt_usd,
        treasury_book.treasury_quarter,
        treasury_book.treasury_as_of,
        days.date - treasury_book.treasury_as_of > {{ stale_after_days }} as treasury_stale,
        perp_oi.perp_oi_usd

    from days
    left join defi_borrowed on days.date = defi_borrowed.date
    left join cdp_supply on days.date = cdp_supply.date
    left join cefi_book on days.date = cefi_book.date
    left join treasury_book on days.date = treasury_book.date
    left join perp_oi on days.date = perp_oi.date

),

final as (

    select
        *,
        defi_borrowed_usd + cdp_stablecoin_supply_usd as onchain_usd,
        defi_borrowed_usd + cdp_stablecoin_supply_usd + cefi_lender_book_usd as crypto_collateralized_usd,
        defi_borrowed_usd + cdp_stablecoin_supply_usd + cefi_lender_book_usd + treasury_company_debt_usd
            as total_with_treasury_debt_usd,
        100 * (defi_borrowed_usd + cdp_stablecoin_supply_usd)
        / nullif(defi_borrowed_usd + cdp_stablecoin_supply_usd + cefi_lender_book_usd, 0) as onchain_share_pct,
        100 * cefi_lender_book_usd
        / nullif(defi_borrowed_usd + cdp_stablecoin_supply_usd + cefi_lender_book_usd, 0) as cefi_share_pct,
        'defi_borrowed_usd=DefiLlama /protocol chainTvls <Chain>-borrowed, categories '
        || '{{ lending_categories | join(",") }} (raw/defillama/lending)'
        || '; cdp_stablecoin_supply_usd=DefiLlama /stablecoincharts/all, {{ cdp_stablecoins | join(",") }}'
        || ' (raw/defillama/stablecoins)'
        || '; cefi_lender_book_usd=seed cefi_lender_disclosures ' || coalesce(cefi_quarter, 'none')
        || '; treasury_company_debt_usd=seed treasury_company_debt ' || coalesce(treasury_quarter, 'none')
        || '; perp_oi_usd=marts.leverage_daily oi_usd (venue APIs, separate line, not in totals)' as lineage

    from joined

)

select * from final
