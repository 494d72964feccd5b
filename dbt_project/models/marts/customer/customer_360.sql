{#
    One row per customer (current version, soft-deleted customers included and flagged):
    profile, order history, RFM segment, lifetime value, churn risk and support, as of
    var('as_of_date'). Revenue = sum of order-line net amounts, cancelled orders excluded.
    The next order is predicted from the customer's own rhythm: the last order date plus the
    average gap between its first and last orders (rounded to whole days; two orders needed).
    Delivery experience comes from order_fulfilment: orders placed up to the as-of date whose
    delivery was observed (see its precision note), their mean days to delivery, and the late
    ones (delivered after the region's promise).
    Contact PII (e-mail, phone, contact person) is deliberately left in dim_customers.
#}
with

customers as (
    select * from {{ ref('dim_customers') }}
    where is_current
),

order_stats as (
    select * from {{ ref('int_customer_order_stats') }}
),

interaction_stats as (
    select * from {{ ref('int_customer_interaction_stats') }}
),

rfm as (
    select * from {{ ref('rfm_segments') }}
),

clv as (
    select * from {{ ref('customer_lifetime_value') }}
),

churn as (
    select * from {{ ref('churn_features') }}
),

top_categories as (
    select * from {{ ref('int_customer_top_categories') }}
),

deliveries as (
    select
        customer_id,
        sum(case when is_delivered then 1 else 0 end) as delivered_orders,
        sum(case when not is_on_time then 1 else 0 end) as late_orders,
        {{ decimal_avg('days_to_delivery', 2) }} as avg_days_to_delivery
    from {{ ref('order_fulfilment') }}
    where placed_at < {{ end_of_day(as_of_date()) }}
    group by customer_id
),

marketing as (
    -- Marketo leads matched to the customer by normalised e-mail (docs: marketo_lead_matching)
    select * from {{ ref('int_customer_marketing_engagement') }}
),

final as (
    select
        -- profile
        customers.customer_id,
        customers.customer_sk,
        customers.customer_name,
        customers.cnpj,
        customers.region,
        customers.state,
        customers.city,
        customers.tier,
        customers.status,
        customers.credit_limit,
        customers.payment_terms_days,
        customers.is_deleted,
        customers.signup_date,

        -- orders
        cast(coalesce(order_stats.total_orders, 0) as bigint) as total_orders,
        cast(coalesce(order_stats.cancelled_orders, 0) as bigint) as cancelled_orders,
        cast(coalesce(order_stats.total_units, 0) as bigint) as total_units,
        cast(coalesce(order_stats.orders_last_90d, 0) as bigint) as orders_last_90d,
        {{ money('coalesce(order_stats.total_revenue, 0)') }} as total_revenue,
        {{ money('coalesce(order_stats.total_margin, 0)') }} as total_margin,
        {{ money('coalesce(order_stats.revenue_last_90d, 0)') }} as revenue_last_90d,
        {{ money(safe_divide('order_stats.total_revenue', 'order_stats.total_orders')) }} as avg_order_value,
        order_stats.first_order_date,
        order_stats.last_order_date,
        cast({{ dbt.datediff('order_stats.last_order_date', as_of_date(), 'day') }} as bigint) as days_since_last_order,
        {{ add_days(
            'cast(round(' ~ safe_divide(
                dbt.datediff('order_stats.first_order_date', 'order_stats.last_order_date', 'day'),
                'order_stats.total_orders - 1'
            ) ~ ') as bigint)',
            'order_stats.last_order_date'
        ) }} as predicted_next_order_date,
        top_categories.top_category_name,
        top_categories.top_categories,
        top_categories.top_category_revenue_share,

        -- delivery experience (observed deliveries; NULL average without one)
        cast(coalesce(deliveries.delivered_orders, 0) as bigint) as delivered_orders,
        cast(coalesce(deliveries.late_orders, 0) as bigint) as late_orders,
        cast(round(deliveries.avg_days_to_delivery, 2) as decimal(18, 2)) as avg_days_to_delivery,

        -- RFM
        rfm.recency_score,
        rfm.frequency_score,
        rfm.monetary_score,
        rfm.rfm_score,
        cast(coalesce(rfm.rfm_segment, 'no_orders') as string) as rfm_segment,

        -- lifetime value
        clv.historical_clv,
        clv.predicted_clv,
        clv.purchase_frequency_per_year,
        clv.clv_segment,

        -- churn risk (NULL for soft-deleted customers, which are not scored)
        churn.churn_risk_score,
        churn.churn_risk_level,
        churn.is_churn_risk,
        churn.order_count_change_90d,
        churn.revenue_change_pct_90d,
        churn.avg_days_between_orders,

        -- support interactions
        cast(coalesce(interaction_stats.total_interactions, 0) as bigint) as total_interactions,
        cast(coalesce(interaction_stats.interactions_last_90d, 0) as bigint) as interactions_last_90d,
        cast(coalesce(interaction_stats.total_complaints, 0) as bigint) as total_complaints,
        cast(coalesce(interaction_stats.complaints_last_90d, 0) as bigint) as complaints_last_90d,
        cast(coalesce(interaction_stats.unresolved_interactions, 0) as bigint) as unresolved_interactions,
        cast(coalesce(interaction_stats.ai_handled_interactions, 0) as bigint) as ai_handled_interactions,
        interaction_stats.resolution_rate,
        interaction_stats.avg_resolution_minutes,
        interaction_stats.last_interaction_date,
        cast({{ dbt.datediff('interaction_stats.last_interaction_date', as_of_date(), 'day') }} as bigint) as days_since_last_interaction,

        -- marketing engagement (Marketo; zero / NULL for customers without a matched lead)
        cast(marketing.customer_id is not null as bool) as has_marketo_lead,
        cast(coalesce(marketing.marketo_leads, 0) as bigint) as marketo_leads,
        marketing.lead_score,
        cast(coalesce(marketing.emails_delivered_30d, 0) as bigint) as emails_delivered_30d,
        cast(coalesce(marketing.emails_delivered_90d, 0) as bigint) as emails_delivered_90d,
        cast(coalesce(marketing.emails_opened_30d, 0) as bigint) as emails_opened_30d,
        cast(coalesce(marketing.emails_opened_90d, 0) as bigint) as emails_opened_90d,
        cast(coalesce(marketing.emails_clicked_30d, 0) as bigint) as emails_clicked_30d,
        cast(coalesce(marketing.emails_clicked_90d, 0) as bigint) as emails_clicked_90d,
        cast(coalesce(marketing.web_visits_30d, 0) as bigint) as web_visits_30d,
        cast(coalesce(marketing.web_visits_90d, 0) as bigint) as web_visits_90d,
        cast(coalesce(marketing.form_fills_30d, 0) as bigint) as form_fills_30d,
        cast(coalesce(marketing.form_fills_90d, 0) as bigint) as form_fills_90d,
        cast(coalesce(marketing.programs_engaged, 0) as bigint) as marketing_programs_engaged,
        marketing.is_unsubscribed as is_marketing_unsubscribed,
        marketing.last_engagement_date as last_marketing_engagement_date,
        cast({{ dbt.datediff('marketing.last_engagement_date', as_of_date(), 'day') }} as bigint) as days_since_last_marketing_engagement,

        {{ as_of_date() }} as as_of_date
    from customers
    left join order_stats
        on customers.customer_id = order_stats.customer_id
    left join interaction_stats
        on customers.customer_id = interaction_stats.customer_id
    left join rfm
        on customers.customer_id = rfm.customer_id
    left join clv
        on customers.customer_id = clv.customer_id
    left join churn
        on customers.customer_id = churn.customer_id
    left join top_categories
        on customers.customer_id = top_categories.customer_id
    left join deliveries
        on customers.customer_id = deliveries.customer_id
    left join marketing
        on customers.customer_id = marketing.customer_id
)

select * from final
