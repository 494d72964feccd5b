-- The incremental order fact must hold every staged order line with its current order status
-- and amount (catches a missed status change or line update). Returns the mismatching lines.
with

staged as (
    select
        order_items.order_item_id,
        orders.order_status,
        order_items.line_total_amount
    from {{ ref('stg_ops__order_items') }} as order_items
    inner join {{ ref('stg_ops__orders') }} as orders
        on order_items.order_id = orders.order_id
    where not order_items.is_deleted
        and not orders.is_deleted
)

select staged.order_item_id
from staged
left join {{ ref('fact_orders') }} as fact_orders
    on staged.order_item_id = fact_orders.order_item_id
where fact_orders.order_item_id is null
    or fact_orders.order_status <> staged.order_status
    or fact_orders.net_amount <> staged.line_total_amount
