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

{#
    The mean of a DECIMAL column, rounded half away from zero at `scale` decimals, equal on
    both engines. avg() cannot give that: DuckDB's avg of a DECIMAL is a DOUBLE (a mean of
    17.435 is 17.43499..., which rounds to 17.43) while BigQuery's is an exact NUMERIC (17.44).
    The sum of the values scaled to integers, divided by their count, lands exactly on a tie
    in a DOUBLE too, so both engines round it the same way. NULL when no value is present.
#}
{% macro decimal_avg(expression, scale) -%}
    (round({{ safe_divide('sum((' ~ expression ~ ') * ' ~ 10 ** scale ~ ')', 'count(' ~ expression ~ ')') }}) / {{ 10 ** scale }})
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

{#
    The standard normal quantile of a cycle service level, for safety stock: a table of the
    levels planners use (neither engine has an inverse normal CDF). Another level fails the
    compilation with the accepted values.
#}
{% macro service_level_z(level) -%}
    {%- set quantiles = {
        '0.8': 0.8416, '0.85': 1.0364, '0.9': 1.2816, '0.95': 1.6449, '0.975': 1.9600,
        '0.98': 2.0537, '0.99': 2.3263, '0.995': 2.5758, '0.999': 3.0902,
    } -%}
    {%- set key = (level | float) | string -%}
    {%- if key not in quantiles -%}
        {{ exceptions.raise_compiler_error(
            "var('inventory_service_level') = " ~ level ~ " is not one of " ~ (quantiles.keys() | list | join(', '))
        ) }}
    {%- endif -%}
    {{ quantiles[key] }}
{%- endmacro %}
