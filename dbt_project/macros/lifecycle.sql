{#
    Hard deletes: raw_ops._deleted_keys records keys that disappeared from the operational
    database (found by key reconciliation in Dagster). latest_version_with_deletes returns the
    latest version of each key, as latest_version does, plus _hard_deleted_at: when the key was
    found deleted, NULL while it is live. A deletion counts only if it was detected after the
    version was loaded, so a key re-inserted in the source (a newer version) is live again.
#}
{% macro latest_version_with_deletes(relation, key, cursor) -%}
    select
        latest.*,
        deletions.detected_at as _hard_deleted_at
    from ({{ latest_version(relation, key, cursor) }}) as latest
    left join (
        select
            id,
            max(detected_at) as detected_at
        from {{ source('ops', '_deleted_keys') }}
        where table_name = '{{ relation.identifier }}'
        group by id
    ) as deletions
        on deletions.id = latest.{{ key }}
        and deletions.detected_at >= latest._loaded_at
{%- endmacro %}

{#
    Personal data in marts: the lower-case hex SHA-256 of a trimmed, lower-cased value, so
    analysts can count and join (e.g. Marketo leads by e-mail) without seeing the value.
    NULL stays NULL.
#}
{% macro pii_sha256(expr) -%}
    {{ return(adapter.dispatch('pii_sha256')(expr)) }}
{%- endmacro %}

{% macro default__pii_sha256(expr) -%}
    sha256(lower(trim({{ expr }})))
{%- endmacro %}

{% macro bigquery__pii_sha256(expr) -%}
    to_hex(sha256(lower(trim({{ expr }}))))
{%- endmacro %}
