-- customer_360.total_revenue must equal the non-cancelled net amount in fact_orders up to the
-- as-of date, customer by customer. Returns customers whose figures disagree.
with

fact_revenue as (
    select
        customer_id,
        sum(net_amount) as revenue
    from {{ ref('fact_orders') }}
    where not is_cancelled
        and order_date <= {{ as_of_date() }}
    group by customer_id
)

select
    customer_360.customer_id,
    customer_360.total_revenue,
    fact_revenue.revenue
from {{ ref('customer_360') }} as customer_360
left join fact_revenue
    on customer_360.customer_id = fact_revenue.customer_id
where customer_360.total_revenue <> coalesce(fact_revenue.revenue, 0)
