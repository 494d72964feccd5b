{#
    Customer interaction fact (grain: one row per interaction), with the customer version
    in force when it happened. Incremental merge on interaction_id over rows whose source
    updated_at is at or after the newest stored (minus the lookback), so resolutions of
    earlier interactions are picked up; rows not stored yet and rows whose customer version
    changed (late customer change) are re-read too.
    Interactions deleted in the source, or removed from raw by retention, are left out and
    deleted from the table by the post-hook.
#}
{{ config(
    materialized='incremental',
    incremental_strategy='merge',
    unique_key='interaction_id',
    on_schema_change='append_new_columns',
    post_hook=[
        "delete from {{ this }} where interaction_id not in (select interaction_id from {{ ref('stg_ops__customer_interactions') }} where not is_deleted)",
    ],
    partition_by=({'field': 'interaction_date', 'data_type': 'date', 'granularity': 'day'} if target.type == 'bigquery' else none),
    cluster_by=(['customer_id', 'interaction_type', 'channel'] if target.type == 'bigquery' else none),
) }}

with

interactions as (
    select * from {{ ref('stg_ops__customer_interactions') }}
    where not coalesce(is_deleted, false)
),

customer_versions as (
    select * from {{ ref('int_customer_versions') }}
),

resolved as (
    select
        interactions.*,
        customer_versions.customer_sk
    from interactions
    left join customer_versions
        on interactions.customer_id = customer_versions.customer_id
            and interactions.interacted_at >= customer_versions.valid_from
            and (customer_versions.valid_to is null or interactions.interacted_at < customer_versions.valid_to)
),

{% if is_incremental() %}
stored as (
    select
        interaction_id,
        customer_sk
    from {{ this }}
),

watermarks as (
    select
        cast({{ dbt.dateadd('hour', -(var('incremental_lookback_hours', 6) | int), 'max(updated_at)') }} as timestamp) as updated_since
    from {{ this }}
),
{% endif %}

changed as (
    select resolved.*
    from resolved
    {% if is_incremental() %}
    cross join watermarks
    left join stored
        on resolved.interaction_id = stored.interaction_id
    where resolved.updated_at >= watermarks.updated_since
        or stored.interaction_id is null
        or coalesce(stored.customer_sk, '') <> coalesce(resolved.customer_sk, '')
    {% endif %}
),

final as (
    select
        interaction_id,
        customer_id,
        customer_sk,
        channel,
        interaction_type,
        agent_type,
        resolution_time_minutes,
        is_resolved,
        is_complaint,
        interaction_date,
        interacted_at,
        created_at,
        updated_at,
        {{ built_at() }} as _built_at
    from changed
)

select * from final
