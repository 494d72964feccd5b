with

latest as (
    {{ latest_version_with_deletes(source('ops', 'order_items'), 'id', 'updated_at') }}
),

renamed as (
    select
        cast(id as bigint) as order_item_id,
        cast(order_id as bigint) as order_id,
        cast(product_id as bigint) as product_id,
        cast(quantity as bigint) as quantity,
        cast(unit_price as decimal(18, 2)) as unit_price,
        cast(discount as decimal(18, 2)) as discount_amount,
        cast(tax as decimal(18, 2)) as tax_amount,
        cast(total as decimal(18, 2)) as line_total_amount,
        cast(created_at as timestamp) as created_at,
        cast(_hard_deleted_at is not null as bool) as is_deleted,
        cast(_hard_deleted_at is not null as bool) as is_hard_deleted,
        cast(updated_at as timestamp) as updated_at,
        cast(_hard_deleted_at as timestamp) as deleted_at
    {{- ops_new_columns('order_items') }}
    from latest
)

select * from renamed
