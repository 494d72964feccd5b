{#
    Customer lifetime value for customers with at least one non-cancelled order, as of
    var('as_of_date').
      historical_clv     revenue including tax to date (cancelled excluded), as customer_360
      margin_rate        margin / net revenue (doc revenue_definitions: net of tax)
      predicted_clv      average net order value x purchase frequency (orders per year)
                         x margin rate x var('clv_expected_lifetime_years')
                         (= expected margin over the expected lifetime)
    Purchase frequency uses the time since the first order, floored at 30 days so that a
    brand-new customer's single order does not extrapolate to hundreds per year.
#}
with

order_stats as (
    select * from {{ ref('int_customer_order_stats') }}
    where total_orders > 0
),

base as (
    select
        customer_id,
        total_orders,
        total_revenue,
        total_net_revenue,
        total_margin,
        first_order_date,
        last_order_date,
        {{ dbt.datediff('first_order_date', as_of_date(), 'day') }} as customer_age_days
    from order_stats
),

metrics as (
    select
        base.*,
        {{ safe_divide('total_revenue', 'total_orders') }} as avg_order_value,
        base.total_orders / (greatest(base.customer_age_days, 30) / 365.25) as purchase_frequency_per_year,
        {{ safe_divide('total_net_revenue', 'total_orders') }} as avg_net_order_value,
        coalesce({{ safe_divide('total_margin', 'total_net_revenue') }}, 0) as margin_rate,
        {{ var('clv_expected_lifetime_years', 3) }} as expected_lifetime_years
    from base
),

predicted as (
    select
        metrics.*,
        metrics.avg_net_order_value * metrics.purchase_frequency_per_year * metrics.margin_rate * metrics.expected_lifetime_years as predicted_clv
    from metrics
),

final as (
    select
        customer_id,
        cast(total_orders as bigint) as total_orders,
        cast(customer_age_days as bigint) as customer_age_days,
        {{ money('avg_order_value') }} as avg_order_value,
        {{ ratio('purchase_frequency_per_year') }} as purchase_frequency_per_year,
        {{ ratio('margin_rate') }} as margin_rate,
        cast(expected_lifetime_years as decimal(18, 4)) as expected_lifetime_years,
        {{ money('total_revenue') }} as historical_clv,
        {{ money('total_margin') }} as historical_margin,
        {{ money('predicted_clv') }} as predicted_clv,
        cast(ntile(4) over (order by predicted_clv, customer_id) as bigint) as predicted_clv_quartile,
        cast(
            case ntile(4) over (order by predicted_clv, customer_id)
                when 4 then 'high'
                when 3 then 'medium_high'
                when 2 then 'medium_low'
                else 'low'
            end as string
        ) as clv_segment,
        first_order_date,
        last_order_date,
        {{ as_of_date() }} as as_of_date
    from predicted
)

select * from final
