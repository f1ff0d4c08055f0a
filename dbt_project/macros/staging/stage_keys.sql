{#-
    The key columns every lake dataset carries, cleaned the same way for every venue: the canonical asset
    (the lake keeps what the client wrote) and, when time_column is given, naive UTC time (what the marts join on).
    Renders a trailing comma, so the dataset's own columns follow it in the same select list.
-#}
{% macro stage_keys(time_column=none, as_column=none) -%}
    venue,
        upper(trim(asset)) as asset,
        symbol,
    {%- if time_column %}
        timezone('UTC', {{ time_column }}) as {{ as_column or time_column }},
    {%- endif %}
{%- endmacro %}
