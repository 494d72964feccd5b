{#
    Performance per supplier (grain: supplier_id), over the products it manufactures, up to
    var('as_of_date'). The operational schema has no purchase orders, so:
      fill_rate      share of closed order lines (shipped, delivered or cancelled) for the
                     supplier's products that were shipped or delivered
      in_stock_rate  share of product x warehouse x day inventory snapshots in the window
                     with units available
      lead_time_days the contractual replenishment lead time
    Revenue and margin exclude cancelled orders.
#}
with

suppliers as (
    select * from {{ ref('dim_suppliers') }}
),

products as (
    select * from {{ ref('dim_products') }}
),

order_lines as (
    select * from {{ ref('fact_orders') }}
    where order_date <= {{ as_of_date() }}
),

inventory as (
    select * from {{ ref('fact_inventory_snapshots') }}
    where snapshot_date > {{ add_days(-(var('inventory_snapshot_days', 90) | int), as_of_date()) }}
        and snapshot_date <= {{ as_of_date() }}
),

catalogue as (
    select
        supplier_id,
        count(*) as products_count,
        sum(case when status = 'active' and not is_deleted then 1 else 0 end) as active_products_count
    from products
    group by supplier_id
),

sales as (
    select
        products.supplier_id,
        sum(case when not order_lines.is_cancelled then order_lines.quantity else 0 end) as units_sold,
        sum(case when not order_lines.is_cancelled then order_lines.gross_amount - order_lines.discount_amount else 0 end) as net_revenue,
        sum(case when not order_lines.is_cancelled then order_lines.cost_amount else 0 end) as cost_amount,
        sum(case when not order_lines.is_cancelled then order_lines.margin_amount else 0 end) as margin_amount,
        sum(case
            when not order_lines.is_cancelled and order_lines.order_date > {{ add_days(-90, as_of_date()) }}
                then order_lines.gross_amount - order_lines.discount_amount
            else 0
        end) as revenue_last_90d,
        sum(case when order_lines.order_status in ('shipped', 'delivered') then 1 else 0 end) as fulfilled_lines,
        sum(case when order_lines.order_status in ('shipped', 'delivered', 'cancelled') then 1 else 0 end) as closed_lines
    from order_lines
    inner join products
        on order_lines.product_id = products.product_id
    group by products.supplier_id
),

availability as (
    select
        products.supplier_id,
        count(*) as position_days,
        sum(case when inventory.quantity_available > 0 then 1 else 0 end) as in_stock_position_days
    from inventory
    inner join products
        on inventory.product_id = products.product_id
    group by products.supplier_id
),

final as (
    select
        suppliers.supplier_id,
        suppliers.supplier_name,
        suppliers.supplier_type,
        suppliers.status,
        cast(coalesce(catalogue.products_count, 0) as bigint) as products_count,
        cast(coalesce(catalogue.active_products_count, 0) as bigint) as active_products_count,
        cast(coalesce(sales.units_sold, 0) as bigint) as units_sold,
        cast(coalesce(sales.fulfilled_lines, 0) as bigint) as fulfilled_lines,
        cast(coalesce(sales.closed_lines, 0) as bigint) as closed_lines,
        suppliers.lead_time_days,
        suppliers.payment_terms_days,
        {{ money('coalesce(sales.net_revenue, 0)') }} as net_revenue,
        {{ money('coalesce(sales.cost_amount, 0)') }} as cost_amount,
        {{ money('coalesce(sales.margin_amount, 0)') }} as margin_amount,
        {{ money('coalesce(sales.revenue_last_90d, 0)') }} as revenue_last_90d,
        {{ ratio(safe_divide('sales.margin_amount', 'sales.net_revenue')) }} as margin_pct,
        {{ ratio(safe_divide('sales.fulfilled_lines', 'sales.closed_lines')) }} as fill_rate,
        {{ ratio(safe_divide('availability.in_stock_position_days', 'availability.position_days')) }} as in_stock_rate,
        {{ as_of_date() }} as as_of_date
    from suppliers
    left join catalogue
        on suppliers.supplier_id = catalogue.supplier_id
    left join sales
        on suppliers.supplier_id = sales.supplier_id
    left join availability
        on suppliers.supplier_id = availability.supplier_id
)

select * from final
