{#
    Products bought together, per category (grain: category x ordered product pair, product_a_id <
    product_b_id, both of that category, in at least var('co_purchase_min_orders') non-cancelled
    orders together up to var('as_of_date')). Over all non-cancelled orders N:
    support = orders with both / N; lift = support / (support of a x support of b), i.e.
    orders with both x N / (orders with a x orders with b). Lift above 1: bought together more
    often than chance.
#}
with

order_lines as (
    select * from {{ ref('fact_orders') }}
    where order_date <= {{ as_of_date() }}
        and not is_cancelled
),

products as (
    select * from {{ ref('dim_products') }}
),

order_products as (
    select distinct
        order_lines.order_id,
        order_lines.product_id,
        products.category_id
    from order_lines
    inner join products
        on order_lines.product_id = products.product_id
),

order_count as (
    select count(distinct order_id) as orders_total from order_products
),

product_orders as (
    select
        product_id,
        count(*) as orders_with_product
    from order_products
    group by product_id
),

pairs as (
    select
        first_product.category_id,
        first_product.product_id as product_a_id,
        second_product.product_id as product_b_id,
        count(*) as orders_with_both
    from order_products as first_product
    inner join order_products as second_product
        on first_product.order_id = second_product.order_id
            and first_product.category_id = second_product.category_id
            and first_product.product_id < second_product.product_id
    group by first_product.category_id, first_product.product_id, second_product.product_id
    having count(*) >= {{ var('co_purchase_min_orders') }}
),

final as (
    select
        {{ surrogate_key(['pairs.product_a_id', 'pairs.product_b_id']) }} as co_purchase_key,
        pairs.category_id,
        pairs.product_a_id,
        pairs.product_b_id,
        cast(pairs.orders_with_both as bigint) as orders_with_both,
        cast(product_a.orders_with_product as bigint) as orders_with_a,
        cast(product_b.orders_with_product as bigint) as orders_with_b,
        cast(order_count.orders_total as bigint) as orders_total,
        -- Decimal quotients: BigQuery divides NUMERICs exactly (a FLOAT64 quotient is what the
        -- emulator rounds to 3 decimals).
        {{ ratio(safe_divide('cast(pairs.orders_with_both as decimal(18,4))', 'order_count.orders_total')) }} as support,
        {{ ratio(safe_divide('cast(pairs.orders_with_both as decimal(18,4))', 'product_a.orders_with_product')) }} as confidence_a_to_b,
        {{ ratio(safe_divide(
            'cast(pairs.orders_with_both as decimal(18,4)) * order_count.orders_total',
            'cast(product_a.orders_with_product as decimal(18,4)) * product_b.orders_with_product'
        )) }} as lift,
        {{ as_of_date() }} as as_of_date
    from pairs
    inner join product_orders as product_a
        on pairs.product_a_id = product_a.product_id
    inner join product_orders as product_b
        on pairs.product_b_id = product_b.product_id
    cross join order_count
)

select * from final
