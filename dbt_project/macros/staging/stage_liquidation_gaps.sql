{#-
    A stream recorder's disconnects, from a lake liquidation_gaps dataset. A gap still open when its day was
    compacted (gap_end null) is taken to last until the end of that UTC day: the recorder did not come back that
    day, and the next day's partition records its own gap.
-#}
{% macro stage_liquidation_gaps(source_relation) -%}
with

source as (

    select * from {{ source_relation }}

),

renamed as (

    select
        venue,
        stream,
        recorder_id,
        timezone('UTC', gap_start) as gap_start,
        timezone('UTC', gap_end) as reported_gap_end,
        coalesce(
            timezone('UTC', gap_end),
            date_trunc('day', timezone('UTC', gap_start)) + interval 1 day
        ) as gap_end,
        reason

    from source

)

select * from renamed
{%- endmacro %}
