{#
    Own-price elasticity per category (grain: category_id with at least one product in
    price_elasticity): the within-product slope pooled over the category's products, i.e. each
    product keeps its own level and only its price changes count. From the line-weighted
    moments of int_product_price_moments: slope = sum(lines x covariance) / sum(lines x price variance).
#}
with

products as (
    select * from {{ ref('price_elasticity') }}
),

moments as (
    select * from {{ ref('int_product_price_moments') }}
),

pooled as (
    select
        products.category_id,
        products.category_name,
        count(*) as products_count,
        sum(case when products.price_changes > 0 then 1 else 0 end) as products_with_price_changes,
        sum(case when products.is_confident then 1 else 0 end) as confident_products,
        sum(products.order_lines) as order_lines,
        sum(moments.price_points) as price_points,
        sum(products.price_changes) as price_changes,
        sum(moments.order_lines * moments.covariance) as sum_covariance,
        sum(moments.order_lines * moments.price_variance) as sum_price_variance,
        sum(moments.order_lines * moments.quantity_variance) as sum_quantity_variance
    from products
    inner join moments
        on products.product_id = moments.product_id
    group by products.category_id, products.category_name
),

fitted as (
    select
        pooled.*,
        case when pooled.sum_price_variance > 0 then pooled.sum_covariance / pooled.sum_price_variance end as slope,
        -- Degrees of freedom: points - one level per product - the slope.
        pooled.price_points - pooled.products_count - 1 as degrees_of_freedom
    from pooled
),

scored as (
    select
        fitted.*,
        case
            when fitted.sum_price_variance > 0 and fitted.sum_quantity_variance > 0
                then fitted.sum_covariance * fitted.sum_covariance
                    / (fitted.sum_price_variance * fitted.sum_quantity_variance)
            when fitted.sum_price_variance > 0 then 1
        end as r_squared,
        case
            when fitted.sum_price_variance > 0 and fitted.degrees_of_freedom > 0
                then sqrt(
                        greatest(fitted.sum_quantity_variance - fitted.slope * fitted.sum_covariance, 0)
                        / (fitted.sum_price_variance * fitted.degrees_of_freedom)
                    )
        end as std_error
    from fitted
),

final as (
    select
        category_id,
        category_name,
        cast(products_count as bigint) as products_count,
        cast(products_with_price_changes as bigint) as products_with_price_changes,
        cast(confident_products as bigint) as confident_products,
        cast(order_lines as bigint) as order_lines,
        cast(price_changes as bigint) as price_changes,
        {{ ratio('slope') }} as price_elasticity,
        {{ ratio('r_squared') }} as r_squared,
        {{ ratio('std_error') }} as std_error,
        coalesce(
            price_changes >= {{ var('elasticity_min_price_changes') }}
            and order_lines >= {{ var('elasticity_min_order_lines') }}
            and std_error <= {{ var('elasticity_max_std_error') }},
            false
        ) as is_confident,
        {{ as_of_date() }} as as_of_date
    from scored
)

select * from final
