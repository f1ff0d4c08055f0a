{#-
    The run window: vars start_date / end_date, inclusive 'YYYY-MM-DD' days (Dagster passes a partition range).
    Unset means "everything", so a plain `dbt build` rebuilds all history.
-#}

{% macro run_window_day(var_name) -%}
    {%- set value = var(var_name, none) -%}
    {%- if value is none or value | string | trim == '' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set day = value | string | trim -%}
    {%- if not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', day) -%}
        {{ exceptions.raise_compiler_error("var " ~ var_name ~ " must be a 'YYYY-MM-DD' day, got " ~ value) }}
    {%- endif -%}
    {{ return(day) }}
{%- endmacro %}


{#- A predicate on `column` (timestamp or date): inside the window, its start widened by lookback_days. -#}
{% macro in_run_window(column, lookback_days=0) -%}
    {%- set start_day = run_window_day('start_date') -%}
    {%- set end_day = run_window_day('end_date') -%}
    (
        true
        {%- if start_day is not none %}
            and {{ column }} >= date '{{ start_day }}' - interval {{ lookback_days }} day
        {%- endif %}
        {%- if end_day is not none %}
            and {{ column }} < date '{{ end_day }}' + interval 1 day
        {%- endif %}
    )
{%- endmacro %}
