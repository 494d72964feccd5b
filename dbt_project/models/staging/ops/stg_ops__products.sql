with

latest as (
    {{ latest_version_with_deletes(source('ops', 'products'), 'id', 'updated_at') }}
),

renamed as (
    select
        cast(id as bigint) as product_id,
        cast(category_id as bigint) as category_id,
        cast(manufacturer_id as bigint) as supplier_id,
        cast(sku as string) as sku,
        cast(name as string) as product_name,
        cast(description as string) as product_description,
        cast(active_ingredient as string) as active_ingredient,
        cast(dosage as string) as dosage,
        cast(package_size as string) as package_size,
        cast(regulatory_code as string) as anvisa_registration_code,
        cast(lower(status) as string) as status,
        cast(unit_cost as decimal(18, 2)) as unit_cost,
        cast(is_generic as bool) as is_generic,
        cast(deleted_at is not null or _hard_deleted_at is not null as bool) as is_deleted,
        cast(_hard_deleted_at is not null as bool) as is_hard_deleted,
        cast(created_at as timestamp) as created_at,
        -- A hard delete is a change: it moves updated_at so the snapshot records it.
        cast(greatest(updated_at, coalesce(_hard_deleted_at, updated_at)) as timestamp) as updated_at,
        cast(coalesce(deleted_at, _hard_deleted_at) as timestamp) as deleted_at
    {{- ops_new_columns('products') }}
    from latest
)

select * from renamed
