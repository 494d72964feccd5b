{#
    Raw tables are append-only: a changed source row arrives again with a newer cursor.
    Returns the rows of `relation` that are the latest version of their key (newest cursor,
    then newest load). Used by staging models only.
#}
{% macro latest_version(relation, key, cursor) -%}
    select ranked.*
    from (
        select
            versions.*,
            row_number() over (
                partition by versions.{{ key }}
                order by versions.{{ cursor }} desc, versions._loaded_at desc
            ) as _version_rank
        from {{ relation }} as versions
    ) as ranked
    where ranked._version_rank = 1
{%- endmacro %}
