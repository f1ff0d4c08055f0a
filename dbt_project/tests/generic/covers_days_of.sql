{#- Every UTC day of a timestamp column in another model (rows matching `filter`) has a row here: a day with a
    flagged cascade minute has its contagion_daily row. Attached to the covering model, so it runs after it. -#}
{% test covers_days_of(model, column_name, from_model, from_column, filter='true') %}

select distinct cast(source_rows.{{ from_column }} as date) as missing_day
from {{ from_model }} as source_rows
where
    ({{ filter }})
    and source_rows.{{ from_column }} is not null
    and cast(source_rows.{{ from_column }} as date) not in (
        select {{ column_name }} from {{ model }}
        where {{ column_name }} is not null
    )

{% endtest %}
