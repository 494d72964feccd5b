with

latest as (
    {{ latest_version(source('ops', 'warehouses'), 'id', 'updated_at') }}
),

renamed as (
    select
        cast(id as bigint) as warehouse_id,
        cast(code as string) as warehouse_code,
        cast(name as string) as warehouse_name,
        cast(city as string) as city,
        cast(upper(state) as string) as state,
        cast({{ brazil_region('upper(state)') }} as string) as region,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at
    {{- ops_new_columns('warehouses') }}
    from latest
)

select * from renamed
