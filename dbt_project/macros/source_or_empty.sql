{#
    `source(source_name, table_name)`, or an empty relation with the given columns when the
    raw table does not exist yet: a source that has never loaded (Marketo not connected, or
    its first extraction still to come) must not break the build of everything else.
    `columns` maps column name -> type (types.sql spellings). Used by staging models only.
#}
{% macro source_or_empty(source_name, table_name, columns) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- set existing = none -%}
    {%- if execute -%}
        {%- set existing = adapter.get_relation(
            database=relation.database, schema=relation.schema, identifier=relation.identifier
        ) -%}
    {%- endif -%}
    {%- if existing is not none or not execute -%}
        {{ relation }}
    {%- else -%}
        (
            select
                {%- for name, type in columns.items() %}
                cast(null as {{ type }}) as {{ name }}{{ "," if not loop.last }}
                {%- endfor %}
            from (select 1 as one) as no_rows
            where 1 = 0
        )
    {%- endif -%}
{%- endmacro %}

{# A string value inside a JSON text column, e.g. json_string('attributes_json', '$.Device'). #}
{% macro json_string(column, path) -%}
    {{ return(adapter.dispatch('json_string', 'pharma')(column, path)) }}
{%- endmacro %}

{% macro default__json_string(column, path) -%}
    json_extract_string({{ column }}, '{{ path }}')
{%- endmacro %}

{% macro bigquery__json_string(column, path) -%}
    json_extract_scalar({{ column }}, '{{ path }}')
{%- endmacro %}
