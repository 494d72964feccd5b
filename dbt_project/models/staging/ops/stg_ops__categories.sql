with

latest as (
    {{ latest_version(source('ops', 'categories'), 'id', 'updated_at') }}
),

renamed as (
    select
        cast(id as bigint) as category_id,
        cast(parent_id as bigint) as parent_category_id,
        cast(name as string) as category_name,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at
    {{- ops_new_columns('categories') }}
    from latest
)

select * from renamed
