with

latest as (
    {{ latest_version_with_deletes(source('ops', 'orders'), 'id', 'updated_at') }}
),

renamed as (
    select
        cast(id as bigint) as order_id,
        cast(customer_id as bigint) as customer_id,
        cast(warehouse_id as bigint) as warehouse_id,
        cast(lower(status) as string) as order_status,
        cast(lower(payment_method) as string) as payment_method,
        cast(lower(payment_status) as string) as payment_status,
        cast(shipping_address as string) as shipping_address,
        cast(notes as string) as notes,
        cast(subtotal as decimal(18, 2)) as subtotal_amount,
        cast(discount as decimal(18, 2)) as discount_amount,
        cast(tax as decimal(18, 2)) as tax_amount,
        cast(shipping_cost as decimal(18, 2)) as shipping_amount,
        cast(total as decimal(18, 2)) as total_amount,
        cast(lower(status) = 'cancelled' as bool) as is_cancelled,
        cast(order_date as date) as order_date,
        cast(created_at as timestamp) as created_at,
        cast(_hard_deleted_at is not null as bool) as is_deleted,
        cast(_hard_deleted_at is not null as bool) as is_hard_deleted,
        cast(updated_at as timestamp) as updated_at,
        cast(_hard_deleted_at as timestamp) as deleted_at
    {{- ops_new_columns('orders') }}
    from latest
)

select * from renamed
