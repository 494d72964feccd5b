{#
    Order behaviour per customer as of var('as_of_date'): lifetime totals (cancelled orders
    excluded from revenue and counts) and the last-90-days vs previous-90-days windows used
    by RFM, CLV and churn. Orders dated after the as-of date are ignored so that a pinned
    as-of date reproduces history. Reads the order-line fact (materialised) to save scans.
#}
with

order_lines as (
    select * from {{ ref('fact_orders') }}
    where order_date <= {{ as_of_date() }}
),

orders as (
    select
        order_id,
        customer_id,
        order_date,
        max(case when is_cancelled then 1 else 0 end) as is_cancelled_flag,
        sum(net_amount) as order_revenue,
        sum(gross_amount - discount_amount) as order_net_revenue,
        sum(margin_amount) as order_margin,
        sum(quantity) as order_units
    from order_lines
    group by order_id, customer_id, order_date
),

windowed as (
    select
        orders.*,
        {{ dbt.datediff('orders.order_date', as_of_date(), 'day') }} as days_before_as_of
    from orders
),

aggregated as (
    select
        customer_id,
        sum(case when is_cancelled_flag = 0 then 1 else 0 end) as total_orders,
        sum(case when is_cancelled_flag = 1 then 1 else 0 end) as cancelled_orders,
        sum(case when is_cancelled_flag = 0 then order_revenue else 0 end) as total_revenue,
        sum(case when is_cancelled_flag = 0 then order_net_revenue else 0 end) as total_net_revenue,
        sum(case when is_cancelled_flag = 0 then order_margin else 0 end) as total_margin,
        sum(case when is_cancelled_flag = 0 then order_units else 0 end) as total_units,
        sum(case when is_cancelled_flag = 0 and days_before_as_of < 90 then 1 else 0 end) as orders_last_90d,
        sum(case when is_cancelled_flag = 0 and days_before_as_of >= 90 and days_before_as_of < 180 then 1 else 0 end) as orders_prev_90d,
        sum(case when is_cancelled_flag = 0 and days_before_as_of < 90 then order_revenue else 0 end) as revenue_last_90d,
        sum(case when is_cancelled_flag = 0 and days_before_as_of >= 90 and days_before_as_of < 180 then order_revenue else 0 end) as revenue_prev_90d,
        min(case when is_cancelled_flag = 0 then order_date end) as first_order_date,
        max(case when is_cancelled_flag = 0 then order_date end) as last_order_date
    from windowed
    group by customer_id
),

final as (
    select
        customer_id,
        cast(total_orders as bigint) as total_orders,
        cast(cancelled_orders as bigint) as cancelled_orders,
        cast(total_units as bigint) as total_units,
        cast(orders_last_90d as bigint) as orders_last_90d,
        cast(orders_prev_90d as bigint) as orders_prev_90d,
        {{ money('total_revenue') }} as total_revenue,
        {{ money('total_net_revenue') }} as total_net_revenue,
        {{ money('total_margin') }} as total_margin,
        {{ money('revenue_last_90d') }} as revenue_last_90d,
        {{ money('revenue_prev_90d') }} as revenue_prev_90d,
        cast(first_order_date as date) as first_order_date,
        cast(last_order_date as date) as last_order_date
    from aggregated
)

select * from final
