{#
    Own-price elasticity per product (grain: product_id with at least one priced,
    non-cancelled line up to var('as_of_date')): the slope of ln(quantity per line) on
    ln(list price in force) across the product's price points, weighted by their lines
    (int_product_price_moments). Quantity per line rather than units per day: order arrivals
    move with the calendar (demand_features), line sizes with the price.
#}
with

moments as (
    select * from {{ ref('int_product_price_moments') }}
),

products as (
    select * from {{ ref('dim_products') }}
),

fitted as (
    select
        product_id,
        price_points,
        order_lines,
        units_sold,
        min_list_price,
        max_list_price,
        covariance,
        price_variance,
        quantity_variance,
        case when price_variance > 0 then covariance / price_variance end as slope
    from moments
),

scored as (
    select
        product_id,
        price_points,
        order_lines,
        units_sold,
        min_list_price,
        max_list_price,
        slope,
        case
            when price_variance > 0 and quantity_variance > 0
                then covariance * covariance / (price_variance * quantity_variance)
            when price_variance > 0 then 1
        end as r_squared,
        -- Weighted least squares: the residual variance over (points - 2) degrees of freedom.
        case
            when price_variance > 0 and price_points > 2
                then sqrt(
                        greatest(quantity_variance - slope * covariance, 0)
                        / (price_variance * (price_points - 2))
                    )
        end as std_error
    from fitted
),

final as (
    select
        scored.product_id,
        products.category_id,
        products.category_name,
        cast(scored.order_lines as bigint) as order_lines,
        cast(scored.units_sold as bigint) as units_sold,
        cast(scored.price_points as bigint) as price_points,
        cast(scored.price_points - 1 as bigint) as price_changes,
        scored.min_list_price,
        scored.max_list_price,
        {{ ratio('scored.slope') }} as price_elasticity,
        {{ ratio('scored.r_squared') }} as r_squared,
        {{ ratio('scored.std_error') }} as std_error,
        coalesce(
            scored.price_points - 1 >= {{ var('elasticity_min_price_changes') }}
            and scored.order_lines >= {{ var('elasticity_min_order_lines') }}
            and scored.std_error <= {{ var('elasticity_max_std_error') }},
            false
        ) as is_confident,
        {{ as_of_date() }} as as_of_date
    from scored
    inner join products
        on scored.product_id = products.product_id
)

select * from final
