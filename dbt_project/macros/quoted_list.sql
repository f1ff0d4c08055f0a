{#- A list of strings (a dbt var) as a SQL list for `in`: ['a', 'b'] -> ('a', 'b'). -#}
{% macro quoted_list(values) -%}
    ({%- for value in values %}'{{ value }}'{% if not loop.last %}, {% endif %}{%- endfor -%})
{%- endmacro %}
