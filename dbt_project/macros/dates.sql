{#
    ISO day of week (1 = Monday ... 7 = Sunday) computed from the day count since
    1900-01-01 (a Monday), so it does not depend on an engine's week-start convention
    (BigQuery weeks start on Sunday, DuckDB's on Monday).
#}
{% macro iso_day_of_week(date_expression) -%}
    (mod({{ dbt.datediff("cast('1900-01-01' as date)", date_expression, 'day') }}, 7) + 1)
{%- endmacro %}

{# English month name from the month number, identical on every engine. #}
{% macro month_name(month_number) -%}
    case {{ month_number }}
        {%- for name in ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'] %}
        when {{ loop.index }} then '{{ name }}'
        {%- endfor %}
    end
{%- endmacro %}

{#
    Integer division of non-negative integers, the same on every engine: DuckDB's `/` on
    integers returns a DOUBLE and BigQuery's is FLOAT64, so floor and cast back.
#}
{% macro int_div(numerator, denominator) -%}
    cast(floor(({{ numerator }}) / {{ denominator }}) as bigint)
{%- endmacro %}
