{#
    Models land in exactly the schema named by their folder config (staging, intermediate,
    marts, snapshots), not dbt's default `<target schema>_<custom>`. On BigQuery every
    dataset carries BIGQUERY_DATASET_PREFIX so that several environments share a project.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set base = target.schema if custom_schema_name is none else custom_schema_name | trim -%}
    {%- if target.type == 'bigquery' and custom_schema_name is not none -%}
        {{ env_var('BIGQUERY_DATASET_PREFIX', '') }}{{ base }}
    {%- else -%}
        {{ base }}
    {%- endif -%}
{%- endmacro %}
