{#-
    The lake's sources name their files relative to the lake ('lake/<venue>/<dataset>/...'), so dbt's parse is the
    same for every home and every lake and is reused (pipelines/defs/warehouse/dbt.py). While executing, the path is made
    absolute: under LEVWATCH_LAKE_URL when set (a folder as file://..., or an s3://bucket/prefix), else under
    $LEVWATCH_HOME/lake. So the warehouse's views read the same files from any reader's working directory, and
    nothing here reads the environment while parsing.
-#}
{% macro source(source_name, table_name) -%}
    {%- set relation = builtins.source(source_name, table_name) -%}
    {%- if execute and relation.external and "'lake/" in relation.external -%}
        {%- set lake_url = env_var('LEVWATCH_LAKE_URL', '') | trim -%}
        {%- if lake_url -%}
            {%- set root = lake_url | replace('file://', '') -%}
        {%- else -%}
            {%- set root = env_var('LEVWATCH_HOME', '../warehouse') ~ '/lake' -%}
        {%- endif -%}
        {{ return(relation.replace(external=relation.external.replace("'lake/", "'" ~ root.rstrip('/') ~ "/"))) }}
    {%- endif -%}
    {{ return(relation) }}
{%- endmacro %}
