{#
    The reference date for everything that depends on "today": var('as_of_date') when set
    (tests pin it), else the current UTC date. Always a DATE on every engine.
#}
{% macro as_of_date() -%}
    {%- set pinned = var('as_of_date', none) -%}
    {%- if pinned -%}
        cast('{{ pinned }}' as date)
    {%- else -%}
        {{ return(adapter.dispatch('current_date_utc', 'pharma')()) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__current_date_utc() -%}
    cast(current_date as date)
{%- endmacro %}

{% macro bigquery__current_date_utc() -%}
    current_date('UTC')
{%- endmacro %}
