{# One row per Marketo program: its latest extracted version. #}
with

latest as (
    {{ latest_version(source_or_empty('marketo', 'programs', {
        'id': 'string', 'name': 'string', 'description': 'string', 'type': 'string',
        'channel': 'string', 'status': 'string', 'workspace': 'string', 'url': 'string',
        'createdAt': 'timestamp', 'updatedAt': 'timestamp',
        '_batch_id': 'string', '_loaded_at': 'timestamp',
    }), 'id', 'updatedAt') }}
),

renamed as (
    select
        cast(id as bigint) as program_id,
        cast(name as string) as program_name,
        cast(description as string) as description,
        cast(lower(type) as string) as program_type,
        cast(channel as string) as channel,
        cast(nullif(status, '') as string) as status,
        cast(workspace as string) as workspace,
        cast(url as string) as url,
        cast(createdAt as timestamp) as created_at,
        cast(updatedAt as timestamp) as updated_at
    from latest
)

select * from renamed
