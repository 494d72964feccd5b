{#
    Per product, the line-weighted moments of its price points (grain: product_id with at
    least one priced, non-cancelled line up to var('as_of_date')). A price point is a distinct
    list price in force on the order date: x = ln(list price), y = ln(average quantity per
    order line at that price). Each line carries its point's logs, so covar_pop / var_pop over
    lines are the moments of the points weighted by their lines (BigQuery has no regr_*).
#}
with

order_lines as (
    select * from {{ ref('fact_orders') }}
    where order_date <= {{ as_of_date() }}
        and not is_cancelled
        and list_price > 0
),

price_points as (
    select
        product_id,
        list_price,
        count(*) as order_lines,
        sum(quantity) as units_sold,
        ln(cast(list_price as {{ type_double() }})) as log_price,
        ln(cast(sum(quantity) as {{ type_double() }}) / count(*)) as log_quantity
    from order_lines
    group by product_id, list_price
),

weighted_lines as (
    select
        order_lines.product_id,
        price_points.log_price,
        price_points.log_quantity
    from order_lines
    inner join price_points
        on order_lines.product_id = price_points.product_id
            and order_lines.list_price = price_points.list_price
),

moments as (
    select
        product_id,
        covar_pop(log_price, log_quantity) as covariance,
        var_pop(log_price) as price_variance,
        var_pop(log_quantity) as quantity_variance
    from weighted_lines
    group by product_id
),

points as (
    select
        product_id,
        count(*) as price_points,
        sum(order_lines) as order_lines,
        sum(units_sold) as units_sold,
        min(list_price) as min_list_price,
        max(list_price) as max_list_price
    from price_points
    group by product_id
),

final as (
    select
        points.product_id,
        points.price_points,
        points.order_lines,
        points.units_sold,
        points.min_list_price,
        points.max_list_price,
        moments.covariance,
        moments.price_variance,
        moments.quantity_variance
    from points
    inner join moments
        on points.product_id = moments.product_id
)

select * from final
