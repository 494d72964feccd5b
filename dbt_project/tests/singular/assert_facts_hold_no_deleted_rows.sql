-- Rows deleted in the source (soft or hard) never count in the facts: returns the offenders.
-- (fact_order_status_changes: an order's history leaves with the order.)
select
    cast(fact_orders.order_item_id as {{ dbt.type_string() }}) as row_id,
    'fact_orders' as fact
from {{ ref('fact_orders') }} as fact_orders
left join {{ ref('stg_ops__order_items') }} as order_items
    on fact_orders.order_item_id = order_items.order_item_id
left join {{ ref('stg_ops__orders') }} as orders
    on fact_orders.order_id = orders.order_id
where order_items.order_item_id is null
    or order_items.is_deleted
    or orders.is_deleted

union all

select
    cast(interactions.interaction_id as {{ dbt.type_string() }}) as row_id,
    'fact_customer_interactions' as fact
from {{ ref('fact_customer_interactions') }} as interactions
left join {{ ref('stg_ops__customer_interactions') }} as staged
    on interactions.interaction_id = staged.interaction_id
where staged.interaction_id is null
    or staged.is_deleted

union all

select
    cast(status_changes.order_status_change_id as {{ dbt.type_string() }}) as row_id,
    'fact_order_status_changes' as fact
from {{ ref('fact_order_status_changes') }} as status_changes
left join {{ ref('stg_ops__orders') }} as orders
    on status_changes.order_id = orders.order_id
where orders.order_id is null
    or orders.is_deleted
