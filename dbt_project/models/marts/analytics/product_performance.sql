{#
    Sales performance per product (grain: product_id) over the whole history up to
    var('as_of_date'), with the last-90-days trend and the stock position at the latest
    daily inventory snapshot on or before the as-of date. Revenue and margin exclude
    cancelled orders; cancellations are counted separately. days_of_supply is
    inventory_turnover's days_of_inventory summed over the product's warehouses.
#}
with

products as (
    select * from {{ ref('dim_products') }}
),

order_lines as (
    select * from {{ ref('fact_orders') }}
    where order_date <= {{ as_of_date() }}
),

inventory as (
    select * from {{ ref('fact_inventory_snapshots') }}
    where snapshot_date <= {{ as_of_date() }}
),

turnover as (
    select * from {{ ref('inventory_turnover') }}
),

sales as (
    select
        product_id,
        count(distinct case when not is_cancelled then order_id end) as orders_count,
        count(distinct case when not is_cancelled then customer_id end) as customers_count,
        sum(case when not is_cancelled then quantity else 0 end) as units_sold,
        sum(case when not is_cancelled then gross_amount else 0 end) as gross_amount,
        sum(case when not is_cancelled then discount_amount else 0 end) as discount_amount,
        sum(case when not is_cancelled then gross_amount - discount_amount else 0 end) as net_revenue,
        sum(case when not is_cancelled then cost_amount else 0 end) as cost_amount,
        sum(case when not is_cancelled then margin_amount else 0 end) as margin_amount,
        sum(case when not is_cancelled and order_date > {{ add_days(-90, as_of_date()) }} then gross_amount - discount_amount else 0 end) as revenue_last_90d,
        sum(case when not is_cancelled and order_date > {{ add_days(-90, as_of_date()) }} then quantity else 0 end) as units_last_90d,
        sum(case when is_cancelled then 1 else 0 end) as cancelled_lines,
        count(*) as order_lines,
        min(case when not is_cancelled then order_date end) as first_sale_date,
        max(case when not is_cancelled then order_date end) as last_sale_date
    from order_lines
    group by product_id
),

latest_stock as (
    select
        inventory.product_id,
        sum(inventory.quantity_available) as quantity_available,
        sum(inventory.quantity_on_hand) as quantity_on_hand,
        max(inventory.snapshot_date) as stock_snapshot_date
    from inventory
    where inventory.snapshot_date = (select max(newest.snapshot_date) from inventory as newest)
    group by inventory.product_id
),

-- Days of supply is inventory_turnover's days_of_inventory at product level (all warehouses,
-- sales from warehouses without a position included), so the two marts cannot disagree.
supply as (
    select
        product_id,
        sum(avg_quantity_on_hand) as avg_quantity_on_hand,
        sum(units_sold) as window_units_sold,
        max(window_days) as window_days
    from turnover
    group by product_id
),

joined as (
    select
        products.product_id,
        products.supplier_id,
        products.sku,
        products.product_name,
        products.category_name,
        products.department_name,
        products.manufacturer_name,
        products.status,
        products.is_generic,
        coalesce(sales.orders_count, 0) as orders_count,
        coalesce(sales.customers_count, 0) as customers_count,
        coalesce(sales.units_sold, 0) as units_sold,
        coalesce(sales.units_last_90d, 0) as units_last_90d,
        coalesce(sales.order_lines, 0) as order_lines,
        coalesce(sales.cancelled_lines, 0) as cancelled_lines,
        coalesce(sales.gross_amount, 0) as gross_amount,
        coalesce(sales.discount_amount, 0) as discount_amount,
        coalesce(sales.net_revenue, 0) as net_revenue,
        coalesce(sales.cost_amount, 0) as cost_amount,
        coalesce(sales.margin_amount, 0) as margin_amount,
        coalesce(sales.revenue_last_90d, 0) as revenue_last_90d,
        latest_stock.quantity_available,
        latest_stock.quantity_on_hand,
        sales.first_sale_date,
        sales.last_sale_date,
        latest_stock.stock_snapshot_date,
        supply.avg_quantity_on_hand as window_avg_quantity_on_hand,
        supply.window_units_sold,
        supply.window_days
    from products
    left join sales
        on products.product_id = sales.product_id
    left join latest_stock
        on products.product_id = latest_stock.product_id
    left join supply
        on products.product_id = supply.product_id
),

final as (
    select
        product_id,
        supplier_id,
        sku,
        product_name,
        category_name,
        department_name,
        manufacturer_name,
        status,
        cast(orders_count as bigint) as orders_count,
        cast(customers_count as bigint) as customers_count,
        cast(units_sold as bigint) as units_sold,
        cast(units_last_90d as bigint) as units_last_90d,
        cast(order_lines as bigint) as order_lines,
        cast(cancelled_lines as bigint) as cancelled_lines,
        cast(rank() over (order by net_revenue desc) as bigint) as revenue_rank,
        cast(quantity_available as bigint) as quantity_available,
        cast(quantity_on_hand as bigint) as quantity_on_hand,
        {{ money('gross_amount') }} as gross_amount,
        {{ money('discount_amount') }} as discount_amount,
        {{ money('net_revenue') }} as net_revenue,
        {{ money('cost_amount') }} as cost_amount,
        {{ money('margin_amount') }} as margin_amount,
        {{ money('revenue_last_90d') }} as revenue_last_90d,
        {{ money(safe_divide('gross_amount', 'units_sold')) }} as avg_selling_price,
        {{ ratio(safe_divide('margin_amount', 'net_revenue')) }} as margin_pct,
        {{ ratio(safe_divide('discount_amount', 'gross_amount')) }} as avg_discount_pct,
        {{ ratio(safe_divide('cancelled_lines', 'order_lines')) }} as cancellation_rate,
        {{ ratio(safe_divide('window_avg_quantity_on_hand * window_days', 'window_units_sold')) }} as days_of_supply,
        is_generic,
        first_sale_date,
        last_sale_date,
        stock_snapshot_date,
        {{ as_of_date() }} as as_of_date
    from joined
)

select * from final
