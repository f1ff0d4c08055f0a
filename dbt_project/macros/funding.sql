{#-
    Hours between funding settlements when the venue does not say: the gap since the previous settlement of the
    same symbol (the period the rate accrued over), else the gap to the next one, else the venue's default.
    Gaps that are not a known interval (a missed settlement, a hole in the lake) are ignored.
-#}
{% macro derived_funding_interval_hours(time_column, partition_by, default_hours=8) -%}
    {%- set over = "over (partition by " ~ partition_by ~ " order by " ~ time_column ~ ")" -%}
    {%- set since_previous = "date_diff('hour', lag(" ~ time_column ~ ") " ~ over ~ ", " ~ time_column ~ ")" -%}
    {%- set until_next = "date_diff('hour', " ~ time_column ~ ", lead(" ~ time_column ~ ") " ~ over ~ ")" -%}
    cast(coalesce(
        case when {{ since_previous }} in (1, 2, 4, 6, 8) then {{ since_previous }} end,
        case when {{ until_next }} in (1, 2, 4, 6, 8) then {{ until_next }} end,
        {{ default_hours }}
    ) as double)
{%- endmacro %}
