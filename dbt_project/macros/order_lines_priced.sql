{#
    The pricing of order lines, as a list of CTEs that ends with `priced_lines`: the body of
    int_order_lines_priced (whose header says what it computes), shared with fact_orders.
    `line_ids`: a relation or CTE with an order_item_id column; only those lines are read and
    priced. fact_orders passes the lines an incremental run must re-read, so the range joins
    and windows over prices and customer versions cost what the new lines cost, not what the
    whole history costs (DuckDB does not push such a filter down through the view).
    CTE names: order_items, orders, products, customer_versions, prices, lines,
    lines_with_customer, list_prices, tier_prices, priced_lines.
#}
{% macro order_lines_priced_ctes(line_ids=none) %}

order_items as (
    select * from {{ ref('stg_ops__order_items') }}
),

orders as (
    select * from {{ ref('stg_ops__orders') }}
),

products as (
    select * from {{ ref('stg_ops__products') }}
),

customer_versions as (
    select * from {{ ref('int_customer_versions') }}
),

prices as (
    select * from {{ ref('stg_ops__pricing') }}
),

lines as (
    select
        order_items.order_item_id,
        order_items.order_id,
        orders.customer_id,
        order_items.product_id,
        orders.warehouse_id,
        orders.order_status,
        orders.payment_method,
        orders.payment_status,
        order_items.quantity,
        order_items.unit_price,
        order_items.discount_amount,
        order_items.tax_amount,
        order_items.line_total_amount,
        products.unit_cost,
        orders.is_cancelled,
        orders.order_date,
        case
            when cast(orders.created_at as date) = orders.order_date then orders.created_at
            else cast(orders.order_date as timestamp)
        end as ordered_at,
        order_items.updated_at as item_updated_at,
        orders.updated_at as order_updated_at
    from order_items
    inner join orders
        on order_items.order_id = orders.order_id
    left join products
        on order_items.product_id = products.product_id
    -- An order or line deleted in the source did not happen: it leaves the facts.
    where not coalesce(order_items.is_deleted, false)
        and not coalesce(orders.is_deleted, false)
        {%- if line_ids %}
        and order_items.order_item_id in (select order_item_id from {{ line_ids }})
        {%- endif %}
),

lines_with_customer as (
    select
        lines.*,
        customer_versions.customer_sk,
        customer_versions.tier as customer_tier
    from lines
    left join customer_versions
        on lines.customer_id = customer_versions.customer_id
        and customer_versions.valid_from <= lines.ordered_at
        and (customer_versions.valid_to is null or customer_versions.valid_to > lines.ordered_at)
),

-- Price entries in force on the order date; overlapping entries resolve to the newest.
list_prices as (
    select
        ranked.order_item_id,
        ranked.price
    from (
        select
            lines.order_item_id,
            prices.price,
            row_number() over (
                partition by lines.order_item_id
                order by prices.effective_from desc, prices.price_id desc
            ) as price_rank
        from lines
        inner join prices
            on lines.product_id = prices.product_id
            and prices.is_list_price
            and prices.effective_from <= lines.order_date
            and (prices.effective_to is null or prices.effective_to > lines.order_date)
    ) as ranked
    where ranked.price_rank = 1
),

tier_prices as (
    select
        ranked.order_item_id,
        ranked.price
    from (
        select
            lines_with_customer.order_item_id,
            prices.price,
            row_number() over (
                partition by lines_with_customer.order_item_id
                order by prices.effective_from desc, prices.price_id desc
            ) as price_rank
        from lines_with_customer
        inner join prices
            on lines_with_customer.product_id = prices.product_id
            and prices.customer_tier = lines_with_customer.customer_tier
            and prices.effective_from <= lines_with_customer.order_date
            and (prices.effective_to is null or prices.effective_to > lines_with_customer.order_date)
    ) as ranked
    where ranked.price_rank = 1
),

priced_lines as (
    select
        lines_with_customer.order_item_id,
        lines_with_customer.order_id,
        lines_with_customer.customer_id,
        lines_with_customer.customer_sk,
        lines_with_customer.product_id,
        lines_with_customer.warehouse_id,
        lines_with_customer.order_status,
        lines_with_customer.payment_method,
        lines_with_customer.payment_status,
        lines_with_customer.customer_tier,
        lines_with_customer.quantity,
        lines_with_customer.unit_price,
        list_prices.price as list_price,
        coalesce(tier_prices.price, list_prices.price) as tier_price,
        {{ money('lines_with_customer.quantity * lines_with_customer.unit_price') }} as gross_amount,
        lines_with_customer.discount_amount,
        lines_with_customer.tax_amount,
        lines_with_customer.line_total_amount as net_amount,
        {{ money('lines_with_customer.quantity * lines_with_customer.unit_cost') }} as cost_amount,
        {{ money(
            'lines_with_customer.quantity * lines_with_customer.unit_price'
            ~ ' - lines_with_customer.discount_amount'
            ~ ' - lines_with_customer.quantity * lines_with_customer.unit_cost'
        ) }} as margin_amount,
        cast(tier_prices.price is not null as bool) as is_tier_priced,
        lines_with_customer.is_cancelled,
        lines_with_customer.order_date,
        lines_with_customer.ordered_at,
        lines_with_customer.item_updated_at,
        lines_with_customer.order_updated_at
    from lines_with_customer
    left join list_prices
        on lines_with_customer.order_item_id = list_prices.order_item_id
    left join tier_prices
        on lines_with_customer.order_item_id = tier_prices.order_item_id
)
{% endmacro %}

{#
    The order lines int_order_lines_priced keeps: a line of an existing order, neither of them
    deleted in the source. The same rows as that view's, read from staging alone (no pricing),
    so fact_orders can find the lines to drop without pricing all of history again.
#}
{% macro order_line_ids_in_force() -%}
    select order_items.order_item_id
    from {{ ref('stg_ops__order_items') }} as order_items
    inner join {{ ref('stg_ops__orders') }} as orders
        on order_items.order_id = orders.order_id
    where not coalesce(order_items.is_deleted, false)
        and not coalesce(orders.is_deleted, false)
{%- endmacro %}
