{#
    Raw tables are append-only: a changed source row arrives again with a newer cursor.
    Returns the rows of `relation` that are the latest version of their key (newest cursor,
    then newest load). Used by staging models only.

    Change data capture (`mode: cdc`, orchestration/cdc/): rows carry `_cdc_position`, which
    orders a key's versions by commit (a cursor can tie or go backwards); rows without one
    (loaded in cursor mode before the switch) come before. Delete and truncate events are not
    versions: the latest version is the newest live one, and latest_version_with_deletes
    (lifecycle.sql) marks the key deleted when such an event came after it.
#}
{% macro latest_version(relation, key, cursor) -%}
    {%- set cdc = has_change_positions(relation) -%}
    select ranked.*
    from (
        select
            versions.*,
            row_number() over (
                partition by versions.{{ key }}
                order by
                    {% if cdc -%} versions._cdc_position desc nulls last, {% endif -%}
                    versions.{{ cursor }} desc, versions._loaded_at desc
            ) as _version_rank
        from {{ relation }} as versions
        {%- if cdc %}
        where versions._cdc_operation is null or versions._cdc_operation not in ('delete', 'truncate')
        {%- endif %}
    ) as ranked
    where ranked._version_rank = 1
{%- endmacro %}

{#- Whether `relation` is a raw table fed by change data capture (it has `_cdc_position`). -#}
{% macro has_change_positions(relation) -%}
    {%- set found = namespace(value=false) -%}
    {%- if execute and relation is not string and relation.identifier is defined -%}
        {%- for column in adapter.get_columns_in_relation(relation) -%}
            {%- if column.name | lower == '_cdc_position' -%}
                {%- set found.value = true -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{- return(found.value) -}}
{%- endmacro %}
