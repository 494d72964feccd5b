{#
    Column types spelled the same way in SQL casts and in contract `data_type`s, valid on
    DuckDB and BigQuery alike: bigint (INT64 alias), string (VARCHAR alias), bool,
    decimal(p, s) (NUMERIC alias), date, timestamp.
#}
{% macro money(expression) -%}
    cast(round({{ expression }}, 2) as decimal(18,2))
{%- endmacro %}

{% macro ratio(expression) -%}
    cast(round({{ expression }}, 4) as decimal(18,4))
{%- endmacro %}

{# Start of the day after `date_expression`, as a TIMESTAMP: the exclusive end of that day. #}
{% macro end_of_day(date_expression) -%}
    cast({{ dbt.dateadd('day', 1, date_expression) }} as timestamp)
{%- endmacro %}

{# Adds days to a date and returns a DATE on both engines (dbt.dateadd is DATETIME on BigQuery). #}
{% macro add_days(days, date_expression) -%}
    cast({{ dbt.dateadd('day', days, date_expression) }} as date)
{%- endmacro %}

{#
    When this dbt invocation started, as a TIMESTAMP: the `_built_at` of the rows an
    incremental fact inserts or updates. Its mart suite validates the rows of the newest
    value (the latest build's batch), not the whole history, after every run.
#}
{% macro built_at() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
{%- endmacro %}

{# A 64-bit float for intermediate arithmetic (logs, variances); never a contract type. #}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'pharma')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double
{%- endmacro %}

{% macro bigquery__type_double() -%}
    float64
{%- endmacro %}
