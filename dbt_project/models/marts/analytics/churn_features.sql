{#
    Churn-risk features and a rule-based score (0-100) for every current, non-deleted
    customer, as of var('as_of_date'). Score components:
      recency       40 if never ordered or last order more than var('churn_recency_threshold_days')
                    days ago, 25 if more than 60, 10 if more than 30
      frequency     20 if fewer orders in the last 90 days than in the 90 before
      revenue       15 if last-90-day revenue fell below 70% of the previous 90 days'
      complaints    15 if any complaint in the last 90 days
      support       10 if any interaction is still unresolved
    churn_risk_level: high >= 60, medium >= 30, else low; is_churn_risk = high.
#}
with

customers as (
    select * from {{ ref('dim_customers') }}
    where is_current and not is_deleted
),

order_stats as (
    select * from {{ ref('int_customer_order_stats') }}
),

interaction_stats as (
    select * from {{ ref('int_customer_interaction_stats') }}
),

features as (
    select
        customers.customer_id,
        coalesce(order_stats.total_orders, 0) as total_orders,
        coalesce(order_stats.orders_last_90d, 0) as orders_last_90d,
        coalesce(order_stats.orders_prev_90d, 0) as orders_prev_90d,
        coalesce(order_stats.revenue_last_90d, 0) as revenue_last_90d,
        coalesce(order_stats.revenue_prev_90d, 0) as revenue_prev_90d,
        coalesce(interaction_stats.total_complaints, 0) as total_complaints,
        coalesce(interaction_stats.complaints_last_90d, 0) as complaints_last_90d,
        coalesce(interaction_stats.unresolved_interactions, 0) as unresolved_interactions,
        {{ dbt.datediff('order_stats.last_order_date', as_of_date(), 'day') }} as days_since_last_order,
        {{ dbt.datediff('interaction_stats.last_interaction_date', as_of_date(), 'day') }} as days_since_last_interaction,
        {{ safe_divide(
            dbt.datediff('order_stats.first_order_date', 'order_stats.last_order_date', 'day'),
            'order_stats.total_orders - 1'
        ) }} as avg_days_between_orders
    from customers
    left join order_stats
        on customers.customer_id = order_stats.customer_id
    left join interaction_stats
        on customers.customer_id = interaction_stats.customer_id
),

scored as (
    select
        features.*,
        case
            when features.days_since_last_order is null then 40
            when features.days_since_last_order > {{ var('churn_recency_threshold_days', 90) }} then 40
            when features.days_since_last_order > 60 then 25
            when features.days_since_last_order > 30 then 10
            else 0
        end as recency_points,
        case when features.orders_last_90d < features.orders_prev_90d then 20 else 0 end as frequency_points,
        case
            when features.revenue_prev_90d > 0 and features.revenue_last_90d < features.revenue_prev_90d * 0.7 then 15
            else 0
        end as revenue_points,
        case when features.complaints_last_90d > 0 then 15 else 0 end as complaint_points,
        case when features.unresolved_interactions > 0 then 10 else 0 end as support_points
    from features
),

final as (
    select
        customer_id,
        cast(total_orders as bigint) as total_orders,
        cast(days_since_last_order as bigint) as days_since_last_order,
        {{ ratio('avg_days_between_orders') }} as avg_days_between_orders,
        cast(orders_last_90d as bigint) as orders_last_90d,
        cast(orders_prev_90d as bigint) as orders_prev_90d,
        cast(orders_last_90d - orders_prev_90d as bigint) as order_count_change_90d,
        {{ money('revenue_last_90d') }} as revenue_last_90d,
        {{ money('revenue_prev_90d') }} as revenue_prev_90d,
        {{ ratio(safe_divide('revenue_last_90d - revenue_prev_90d', 'revenue_prev_90d')) }} as revenue_change_pct_90d,
        cast(total_complaints as bigint) as total_complaints,
        cast(complaints_last_90d as bigint) as complaints_last_90d,
        cast(unresolved_interactions as bigint) as unresolved_interactions,
        cast(days_since_last_interaction as bigint) as days_since_last_interaction,
        cast(recency_points + frequency_points + revenue_points + complaint_points + support_points as bigint) as churn_risk_score,
        cast(case
            when recency_points + frequency_points + revenue_points + complaint_points + support_points >= 60 then 'high'
            when recency_points + frequency_points + revenue_points + complaint_points + support_points >= 30 then 'medium'
            else 'low'
        end as string) as churn_risk_level,
        cast(total_orders > 0 as bool) as has_ordered,
        cast(recency_points + frequency_points + revenue_points + complaint_points + support_points >= 60 as bool) as is_churn_risk,
        {{ as_of_date() }} as as_of_date
    from scored
)

select * from final
