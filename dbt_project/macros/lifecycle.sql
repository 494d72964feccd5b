{#
    Hard deletes: raw_ops._deleted_keys records keys that disappeared from the operational
    database (found by key reconciliation in Dagster). latest_version_with_deletes returns the
    latest version of each key, as latest_version does, plus _hard_deleted_at: when the key was
    found deleted, NULL while it is live. A deletion counts only if it was detected after the
    version was loaded, so a key re-inserted in the source (a newer version) is live again.
    A table in mode cdc also takes its deletes from its own delete and truncate events (see
    latest_version.sql): deleted when one came after the latest live version, at its commit time.
#}
{% macro latest_version_with_deletes(relation, key, cursor) -%}
    {%- set cdc = has_change_positions(relation) -%}
    select
        latest.*,
        {% if cdc -%}
        coalesce(deletions.detected_at, key_ends.ended_at, truncations.ended_at) as _hard_deleted_at
        {%- else -%}
        deletions.detected_at as _hard_deleted_at
        {%- endif %}
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
    {%- if cdc %}
    {# Change data capture: a delete of the key, a truncate or a snapshot without it, after its latest live version. #}
    left join (
        select
            ends.{{ key }} as ended_key,
            max(ends._cdc_position) as ended_position,
            max(ends._cdc_committed_at) as ended_at
        from {{ relation }} as ends
        where ends._cdc_operation = 'delete'
        group by ends.{{ key }}
    ) as key_ends
        on key_ends.ended_key = latest.{{ key }}
        and key_ends.ended_position > latest._cdc_position
    left join (
        select
            max(ends._cdc_position) as ended_position,
            max(ends._cdc_committed_at) as ended_at
        from {{ relation }} as ends
        -- a snapshot is a full image: a key it does not hold has ended (a re-snapshot)
        where ends._cdc_operation in ('truncate', 'snapshot')
    ) as truncations
        on truncations.ended_position > latest._cdc_position
    {%- endif %}
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
