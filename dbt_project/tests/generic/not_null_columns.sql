{#-
    Every listed column of the model holds no NULL: one test, one scan of the table, instead
    of one dbt `not_null` test per column. On BigQuery each test is a query job billed for at
    least 10 MB and run in turn with the others, so one per column made the not-null checks
    alone about 500 jobs per build (three quarters of all data tests); here they are one per
    model, and the scan reads each listed column once.

    It returns one row per column that holds NULLs: the column's name and how many rows. dbt
    counts those rows as the failures; the dbt asset names the columns in the Dagster check
    (orchestration/assets/dbt_failures.py).
-#}
{% test not_null_columns(model, columns) %}
    {%- if not columns %}
        {{ exceptions.raise_compiler_error("not_null_columns on " ~ model ~ ": list at least one column") }}
    {%- endif %}
with null_counts as (
    select
    {%- for column in columns %}
        count(*) - count({{ column }}) as null_rows_{{ loop.index }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ model }}
)
{%- for column in columns %}
select '{{ column }}' as column_name, null_rows_{{ loop.index }} as null_rows
from null_counts
where null_rows_{{ loop.index }} > 0
{{ "union all" if not loop.last }}
{%- endfor %}
{% endtest %}
