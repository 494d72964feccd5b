{#
    Order status history (grain: one row per recorded status of an order, order_status_change_id).
    The staged status changes of the orders that still exist, with the order's customer,
    warehouse and creation, and the hours the order spent in the status before. Orders deleted in
    the source are left out, as fact_orders leaves out their lines.
#}
with

status_changes as (
    select * from {{ ref('stg_ops__order_status_changes') }}
),

orders as (
    select * from {{ ref('stg_ops__orders') }}
    where not is_deleted
),

sequenced as (
    select
        status_changes.*,
        lag(status_changes.changed_at) over (
            partition by status_changes.order_id order by status_changes.status_sequence
        ) as previous_changed_at
    from status_changes
),

final as (
    select
        sequenced.order_status_change_id,
        sequenced.order_id,
        orders.customer_id,
        orders.warehouse_id,
        sequenced.status_sequence,
        sequenced.order_status,
        sequenced.previous_status,
        sequenced.captured_by,
        cast(
            round({{ dbt.datediff('sequenced.previous_changed_at', 'sequenced.changed_at', 'second') }} / 3600.0, 2)
            as decimal(18, 2)
        ) as hours_in_previous_status,
        orders.created_at as placed_at,
        sequenced.changed_at,
        sequenced.earliest_changed_at,
        sequenced.committed_at
    from sequenced
    inner join orders
        on sequenced.order_id = orders.order_id
)

select * from final
