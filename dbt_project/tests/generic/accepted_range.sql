{#- Non-null values lie within [min_value, max_value] (or the open interval when inclusive is false). -#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}

{%- if min_value is none and max_value is none -%}
    {{ exceptions.raise_compiler_error("accepted_range needs min_value, max_value or both") }}
{%- endif -%}
{%- set op_min = '>=' if inclusive else '>' -%}
{%- set op_max = '<=' if inclusive else '<' -%}

select *
from {{ model }}
where
    {{ column_name }} is not null
    and not (
        true
        {%- if min_value is not none %}
            and {{ column_name }} {{ op_min }} {{ min_value }}
        {%- endif %}
        {%- if max_value is not none %}
            and {{ column_name }} {{ op_max }} {{ max_value }}
        {%- endif %}
    )

{% endtest %}
