{#
    BigQuery EMULATOR gaps, worked around for the `bigquery-emulator` target only.
    Every macro here renders exactly what dbt-bigquery renders for any other target
    (tests/bigquery/test_production_sql.py proves it on the compiled SQL of both targets).

    Gap: a bare NUMERIC (in a cast or DDL) becomes DuckDB's DECIMAL(18, 3) on the emulator,
    so values are rounded to 3 decimals and anything over 15 integer digits fails.
    BigQuery's NUMERIC is precision 38, scale 9: spell that out for the emulator.
#}
{% macro bigquery__type_numeric() -%}
    {%- if target.name == 'bigquery-emulator' -%}
        numeric(38, 9)
    {%- else -%}
        {{ dbt.default__type_numeric() }}
    {%- endif -%}
{%- endmacro %}

{#
    Gap: the emulator rejects `create or replace table t (col type not null, ...) ... as (select ...)`,
    the DDL dbt-bigquery emits for a model with an enforced contract.
    On the emulator only, the table is created without the column list. The contract is still
    enforced there: get_assert_columns_equivalent fails the model before any DDL when a column
    name, type or count differs from the contract, and get_select_subquery orders the columns
    as the contract does. Lost on the emulator: the DDL-level not-null constraints, which it
    would not enforce anyway (another gap); dbt not_null tests cover them.
#}
{% macro bigquery__create_table_as(temporary, relation, compiled_code, language='sql') -%}
    {%- set contract_config = config.get('contract') -%}
    {%- if target.name == 'bigquery-emulator' and language == 'sql' and contract_config.enforced -%}
        {%- set partition_config = adapter.parse_partition_by(config.get('partition_by', none)) -%}
        {%- set sql_header = config.get('sql_header', none) -%}
        {{ sql_header if sql_header is not none }}
        create or replace table {{ relation }}
        {{ get_assert_columns_equivalent(compiled_code) }}
        {{ partition_by(partition_config) }}
        {{ cluster_by(config.get('cluster_by', none)) }}
        {{ bigquery_table_options(config, model, temporary) }}
        as (
            {{ get_select_subquery(compiled_code) }}
        );
    {%- else -%}
        {{ dbt.bigquery__create_table_as(temporary, relation, compiled_code, language) }}
    {%- endif -%}
{%- endmacro %}

{#
    Gap: a view's NUMERIC columns read back as DuckDB's DECIMAL(18, 3), whatever the cast in
    the view says (cast(x as decimal(18, 2)) over 12.333333 reads 12.333, decimal(18, 4) loses
    its fourth decimal), so marts built on staging/intermediate views would round differently.
    Tables keep the declared scale. On the emulator only, a view model is therefore stored as a
    table with the same query, rebuilt on every run like the view would be re-read; on BigQuery
    views stay views.
#}
{% macro bigquery__create_view_as(relation, sql) -%}
    {%- if target.name == 'bigquery-emulator' -%}
        create or replace table {{ relation }} as (
            {{ sql }}
        );
    {%- else -%}
        {{ dbt.bigquery__create_view_as(relation, sql) }}
    {%- endif -%}
{%- endmacro %}

{# ... and the view materialization then finds that table on the next run: replace it. #}
{% macro bigquery__handle_existing_table(full_refresh, old_relation) -%}
    {%- if target.name == 'bigquery-emulator' -%}
        {{ adapter.drop_relation(old_relation) }}
    {%- else -%}
        {{ dbt.bigquery__handle_existing_table(full_refresh, old_relation) }}
    {%- endif -%}
{%- endmacro %}
