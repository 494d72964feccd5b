with

latest as (
    {{ latest_version_with_deletes(source('ops', 'customer_interactions'), 'id', 'updated_at') }}
),

renamed as (
    select
        cast(id as bigint) as interaction_id,
        cast(customer_id as bigint) as customer_id,
        cast(lower(channel) as string) as channel,
        cast(lower(interaction_type) as string) as interaction_type,
        cast(lower(agent_type) as string) as agent_type,
        cast(resolution_time_minutes as bigint) as resolution_time_minutes,
        cast(resolved as bool) as is_resolved,
        cast(lower(interaction_type) = 'complaint' as bool) as is_complaint,
        cast(interaction_date as date) as interaction_date,
        cast(interaction_date as timestamp) as interacted_at,
        cast(created_at as timestamp) as created_at,
        cast(_hard_deleted_at is not null as bool) as is_deleted,
        cast(_hard_deleted_at is not null as bool) as is_hard_deleted,
        cast(updated_at as timestamp) as updated_at,
        cast(_hard_deleted_at as timestamp) as deleted_at
    {{- ops_new_columns('customer_interactions') }}
    from latest
)

select * from renamed
