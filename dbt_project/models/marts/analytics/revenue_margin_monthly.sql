{#
    Revenue and margin by month x customer region x product category (grain:
    month_start_date, region, category_id). The region is the customer's region at the time
    of the order (through the SCD2 customer_sk). Revenue = sum of net line amounts of
    non-cancelled orders; cancelled orders are reported separately.
#}
with

order_lines as (
    select * from {{ ref('fact_orders') }}
    where order_date <= {{ as_of_date() }}
),

customers as (
    select * from {{ ref('dim_customers') }}
),

products as (
    select * from {{ ref('dim_products') }}
),

enriched as (
    select
        cast({{ dbt.date_trunc('month', 'order_lines.order_date') }} as date) as month_start_date,
        customers.region,
        products.category_id,
        products.category_name,
        products.department_name,
        order_lines.order_id,
        order_lines.customer_id,
        order_lines.quantity,
        order_lines.gross_amount,
        order_lines.discount_amount,
        order_lines.tax_amount,
        order_lines.net_amount,
        order_lines.cost_amount,
        order_lines.margin_amount,
        order_lines.is_cancelled
    from order_lines
    inner join customers
        on order_lines.customer_sk = customers.customer_sk
    inner join products
        on order_lines.product_id = products.product_id
),

aggregated as (
    select
        month_start_date,
        region,
        category_id,
        category_name,
        department_name,
        count(distinct case when not is_cancelled then order_id end) as orders_count,
        count(distinct case when not is_cancelled then customer_id end) as customers_count,
        count(distinct case when is_cancelled then order_id end) as cancelled_orders_count,
        sum(case when not is_cancelled then quantity else 0 end) as units_sold,
        sum(case when not is_cancelled then gross_amount else 0 end) as gross_amount,
        sum(case when not is_cancelled then discount_amount else 0 end) as discount_amount,
        sum(case when not is_cancelled then tax_amount else 0 end) as tax_amount,
        sum(case when not is_cancelled then gross_amount - discount_amount else 0 end) as net_revenue,
        sum(case when not is_cancelled then cost_amount else 0 end) as cost_amount,
        sum(case when not is_cancelled then margin_amount else 0 end) as margin_amount,
        sum(case when is_cancelled then gross_amount - discount_amount else 0 end) as cancelled_amount
    from enriched
    group by month_start_date, region, category_id, category_name, department_name
),

final as (
    select
        cast({{ surrogate_key(['month_start_date', 'region', 'category_id']) }} as string) as revenue_month_key,
        category_id,
        region,
        category_name,
        department_name,
        cast(orders_count as bigint) as orders_count,
        cast(customers_count as bigint) as customers_count,
        cast(cancelled_orders_count as bigint) as cancelled_orders_count,
        cast(units_sold as bigint) as units_sold,
        {{ money('gross_amount') }} as gross_amount,
        {{ money('discount_amount') }} as discount_amount,
        {{ money('tax_amount') }} as tax_amount,
        {{ money('net_revenue') }} as net_revenue,
        {{ money('cost_amount') }} as cost_amount,
        {{ money('margin_amount') }} as margin_amount,
        {{ money('cancelled_amount') }} as cancelled_amount,
        {{ ratio(safe_divide('margin_amount', 'net_revenue')) }} as margin_pct,
        month_start_date
    from aggregated
)

select * from final
