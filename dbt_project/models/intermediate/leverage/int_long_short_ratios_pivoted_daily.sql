{#- The run window and the day before it, as the other steps of leverage_daily. -#}
{%- set lookback_days = 1 -%}

with

long_short_ratios as (

    select * from {{ ref('int_long_short_ratios_unioned') }}
    where {{ in_run_window('ts', lookback_days) }}

),

venue_day_account_share as (

    select
        venue,
        asset,
        cast(ts as date) as date,
        avg(long_share) as long_account_share

    from long_short_ratios
    where ratio_type = 'global_account'
    group by venue, asset, cast(ts as date)

),

final as (

    select
        date,
        asset,
        max(case when venue = 'binance' then long_account_share end) as long_account_share_binance,
        max(case when venue = 'bybit' then long_account_share end) as long_account_share_bybit,
        max(case when venue = 'okx' then long_account_share end) as long_account_share_okx

    from venue_day_account_share
    group by date, asset

)

select * from final
