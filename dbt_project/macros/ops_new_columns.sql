{#
    Schema drift, the additive kind: a column added to an operational table reaches raw on
    the next extraction (ALTER TABLE ADD COLUMN on the raw table, `columns_added` in the
    asset metadata). This macro makes it available in staging without a manual step: it
    returns, as a leading-comma list, the raw columns that the source definition
    (_ops__sources.yml) does not document yet, passed through unrenamed and uncast. Once
    someone models the column (documents it and selects it renamed/cast), it stops being
    passed through. Load metadata (`_batch_id`, `_loaded_at`, ranks) is never passed.
#}
{% macro ops_new_columns(table_name) -%}
    {%- if execute -%}
        {%- set documented = [] -%}
        {%- for node in graph.sources.values() if node.source_name == 'ops' and node.name == table_name -%}
            {%- for column_name in node.columns -%}
                {%- do documented.append(column_name | lower) -%}
            {%- endfor -%}
        {%- endfor -%}
        {#- Without documented columns every column would look new: pass nothing. -#}
        {%- if documented -%}
            {%- for column in adapter.get_columns_in_relation(source('ops', table_name)) -%}
                {%- if column.name | lower not in documented and not column.name.startswith('_') %}
        , {{ adapter.quote(column.name) }}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
