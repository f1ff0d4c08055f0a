{#-
    The run window: inclusive 'YYYY-MM-DD' days. Dagster passes a partition range in the environment
    (LEVWATCH_DBT_START_DATE / LEVWATCH_DBT_END_DATE), read only while executing: dbt's parse, which it reuses
    across runs, stays the same for every window, where `--vars` would force a full re-parse (~20 s of CPU).
    Vars start_date / end_date still win when set (a `dbt build --vars ...` by hand, a unit test's overrides; null
    there means everything). Unset means "everything", so a plain `dbt build` rebuilds all history.
-#}

{% macro run_window_day(var_name) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set value = var(var_name, 'from_env') -%}
    {%- if value == 'from_env' -%}
        {%- set value = env_var('LEVWATCH_DBT_' ~ var_name | upper, '') -%}
    {%- endif -%}
    {%- if value is none or value | string | trim == '' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set day = value | string | trim -%}
    {%- if not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', day) -%}
        {{ exceptions.raise_compiler_error(var_name ~ " must be a 'YYYY-MM-DD' day, got " ~ value) }}
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
