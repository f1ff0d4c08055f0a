{#-
    A venue's system_status lake dataset, staged: naive UTC times, and whether the reading reports trouble (an
    announcement that was not canceled, or a Deribit platform lock of every or some currencies).
-#}
{% macro stage_system_status(venue) -%}
with

source as (

    select * from {{ source(venue, 'system_status') }}

),

renamed as (

    select
        venue,
        event_id,
        timezone('UTC', ts) as snapshot_at,
        title,
        state,
        event_type,
        timezone('UTC', "begin") as begin_at,
        timezone('UTC', "end") as end_at,
        services,
        case
            when event_type = 'lock' then state in ('true', 'partial')
            else state != 'canceled'
        end as is_active_reading

    from source

)

select * from renamed
{%- endmacro %}
