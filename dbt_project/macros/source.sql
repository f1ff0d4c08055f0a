{#-
    The lake's sources name their files relative to the home ('lake/<venue>/<dataset>/...'), so dbt's parse is the
    same for every home and is reused (pipelines/defs/dbt.py). While executing, the path is made absolute under
    $LEVWATCH_HOME, so the warehouse's views read the same files from any reader's working directory.
-#}
{% macro source(source_name, table_name) -%}
    {%- set relation = builtins.source(source_name, table_name) -%}
    {%- if execute and relation.external and "'lake/" in relation.external -%}
        {%- set home = env_var('LEVWATCH_HOME', '../warehouse') -%}
        {{ return(relation.replace(external=relation.external.replace("'lake/", "'" ~ home ~ "/lake/"))) }}
    {%- endif -%}
    {{ return(relation) }}
{%- endmacro %}
