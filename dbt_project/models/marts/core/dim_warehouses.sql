{# Warehouse (distribution centre) dimension. #}
with

warehouses as (
    select * from {{ ref('stg_ops__warehouses') }}
),

final as (
    select
        warehouse_id,
        warehouse_code,
        warehouse_name,
        city,
        state,
        region,
        created_at,
        updated_at
    from warehouses
)

select * from final
