{#- Every UTC day of a timestamp column has a row in another model (a cascade day has its contagion_daily row). -#}
{% test day_has_row_in(model, column_name, to, field) %}

select distinct cast({{ column_name }} as date) as missing_day
from {{ model }}
where
    {{ column_name }} is not null
    and cast({{ column_name }} as date) not in (
        select {{ field }} from {{ to }}
        where {{ field }} is not null
    )

{% endtest %}
