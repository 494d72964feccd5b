{#
    The product categories each customer buys most, as of var('as_of_date'): one row per
    customer with at least one non-cancelled order line. Categories are ranked by the
    customer's net revenue in them (doc revenue_definitions: gross - discounts, net of tax),
    ties broken by category name. top_categories lists the first three, best first.
#}
with

order_lines as (
    select * from {{ ref('fact_orders') }}
    where not is_cancelled
        and order_date <= {{ as_of_date() }}
),

products as (
    select * from {{ ref('dim_products') }}
),

by_category as (
    select
        order_lines.customer_id,
        products.category_name,
        sum(order_lines.gross_amount - order_lines.discount_amount) as net_revenue
    from order_lines
    inner join products
        on order_lines.product_id = products.product_id
    group by order_lines.customer_id, products.category_name
),

ranked as (
    select
        by_category.customer_id,
        by_category.category_name,
        by_category.net_revenue,
        row_number() over (
            partition by by_category.customer_id
            order by by_category.net_revenue desc, by_category.category_name asc
        ) as category_rank,
        sum(by_category.net_revenue) over (partition by by_category.customer_id) as customer_net_revenue
    from by_category
),

final as (
    select
        customer_id,
        cast(max(case when category_rank = 1 then category_name end) as string) as top_category_name,
        cast(string_agg(
            case when category_rank <= 3 then category_name end, ', ' order by category_rank
        ) as string) as top_categories,
        {{ ratio(safe_divide(
            'max(case when category_rank = 1 then net_revenue end)', 'max(customer_net_revenue)'
        )) }} as top_category_revenue_share
    from ranked
    group by customer_id
)

select * from final
