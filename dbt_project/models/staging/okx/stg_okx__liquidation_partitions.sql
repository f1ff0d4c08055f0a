-- One row per OKX liquidations day file: its status and the windows of the day the REST endpoint could serve
-- when runs wrote it (OKX keeps only the last 24 hours, so a day is whole only if runs covered all of it)
with

source as (

    select * from {{ source('okx', 'liquidation_partitions') }}

),

renamed as (

    select
        cast(regexp_extract(file_name, 'date=(\d{4}-\d{2}-\d{2})', 1) as date) as date,
        decode(key) as metadata_key,
        decode(value) as metadata_value

    from source

),

partitions as (

    select
        date,
        coalesce(max(metadata_value) filter (where metadata_key = 'levwatch.status'), 'ok') as partition_status,
        max(metadata_value) filter (where metadata_key = 'levwatch.observed_ms') as observed_ms

    from renamed
    where date > date '1970-01-01'  -- the zero-row anchor file
    group by date

),

final as (

    select
        'okx' as venue,
        date,
        partition_status,
        observed_ms is not null as has_observed_windows,
        coalesce(from_json(observed_ms, '[["BIGINT"]]'), []) as observed_windows_ms

    from partitions

)

select * from final
