{#- column_names are the model's key: none of them is null and no two rows share all of them. One node for what
    unique_combination_of_columns and a not_null test per key column assert in several (each a scan of the model,
    and for a view or an ephemeral step a recomputation of it), after dbt_constraints' primary_key test. A failing
    row is a key group with a null or with n_rows > 1. -#}
{% test primary_key(model, column_names) %}

select
    {{ column_names | join(', ') }},
    count(*) as n_rows
from {{ model }}
group by {{ column_names | join(', ') }}
having
    count(*) > 1
    {%- for column in column_names %}
    or {{ column }} is null
    {%- endfor %}

{% endtest %}
