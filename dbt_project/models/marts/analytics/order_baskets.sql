{#
    Basket size per order (grain: non-cancelled order up to var('as_of_date')): distinct products,
    lines, units and net revenue of the order.
#}
with

order_lines as (
    select * from {{ ref('fact_orders') }}
    where order_date <= {{ as_of_date() }}
        and not is_cancelled
),

baskets as (
    select
        order_id,
        customer_id,
        warehouse_id,
        order_date,
        count(distinct product_id) as products_count,
        count(*) as lines_count,
        sum(quantity) as units,
        sum(gross_amount - discount_amount) as net_revenue
    from order_lines
    group by order_id, customer_id, warehouse_id, order_date
),

final as (
    select
        order_id,
        customer_id,
        warehouse_id,
        cast(products_count as bigint) as products_count,
        cast(lines_count as bigint) as lines_count,
        cast(units as bigint) as units,
        {{ money('net_revenue') }} as net_revenue,
        order_date,
        {{ as_of_date() }} as as_of_date
    from baskets
)

select * from final
