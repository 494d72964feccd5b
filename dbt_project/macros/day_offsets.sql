{#
    A relation with one BIGINT column `day_offset` = 0, 1, ..., day_count - 1.
    Wraps dbt.generate_series, whose numbers are FLOAT64 on BigQuery (it multiplies by
    power(2, n)); INTERVAL arithmetic there needs INT64, hence the cast.
#}
{% macro day_offsets(day_count) -%}
    select cast(series.generated_number as bigint) - 1 as day_offset
    from ({{ dbt.generate_series(day_count | int) }}) as series
{%- endmacro %}
