{#-
    One dataset's staging models (stg_<venue>__<dataset>) stacked with union all, each narrowed to `columns`
    (names or expressions, the same for every venue) and, where given, filtered by `where`.
-#}
{% macro union_venue_staging(dataset, venues, columns, where=none) -%}
{%- for venue in venues -%}
    {%- if not loop.first %}

    union all

    {% endif -%}
    select
        {{ select_list(columns) }}

    from {{ ref('stg_' ~ venue ~ '__' ~ dataset) }}
    {%- if where %}
    where {{ where }}
    {%- endif %}
{%- endfor %}
{%- endmacro %}
