with

latest as (
    {{ latest_version(source('ops', 'inventory'), 'id', 'last_updated') }}
),

renamed as (
    select
        cast(id as bigint) as inventory_id,
        cast(product_id as bigint) as product_id,
        cast(warehouse_id as bigint) as warehouse_id,
        cast(quantity_available as bigint) as quantity_available,
        cast(quantity_reserved as bigint) as quantity_reserved,
        cast(quantity_incoming as bigint) as quantity_incoming,
        cast(reorder_point as bigint) as reorder_point,
        cast(quantity_available <= reorder_point as bool) as is_below_reorder_point,
        cast(last_updated as timestamp) as last_updated_at
    {{- ops_new_columns('inventory') }}
    from latest
)

select * from renamed
