{# Support and sales interactions per customer as of var('as_of_date'). #}
with

interactions as (
    select * from {{ ref('fact_customer_interactions') }}
    where interaction_date <= {{ as_of_date() }}
),

windowed as (
    select
        interactions.*,
        {{ dbt.datediff('interactions.interaction_date', as_of_date(), 'day') }} as days_before_as_of
    from interactions
),

aggregated as (
    select
        customer_id,
        count(*) as total_interactions,
        sum(case when days_before_as_of < 90 then 1 else 0 end) as interactions_last_90d,
        sum(case when is_complaint then 1 else 0 end) as total_complaints,
        sum(case when is_complaint and days_before_as_of < 90 then 1 else 0 end) as complaints_last_90d,
        sum(case when is_resolved then 1 else 0 end) as resolved_interactions,
        sum(case when not is_resolved then 1 else 0 end) as unresolved_interactions,
        sum(case when agent_type = 'ai' then 1 else 0 end) as ai_handled_interactions,
        sum(case when channel = 'whatsapp' then 1 else 0 end) as whatsapp_interactions,
        sum(case when channel = 'email' then 1 else 0 end) as email_interactions,
        sum(case when channel = 'phone' then 1 else 0 end) as phone_interactions,
        sum(case when channel = 'web' then 1 else 0 end) as web_interactions,
        avg(case when is_resolved then resolution_time_minutes end) as avg_resolution_minutes,
        max(interaction_date) as last_interaction_date
    from windowed
    group by customer_id
),

final as (
    select
        customer_id,
        cast(total_interactions as bigint) as total_interactions,
        cast(interactions_last_90d as bigint) as interactions_last_90d,
        cast(total_complaints as bigint) as total_complaints,
        cast(complaints_last_90d as bigint) as complaints_last_90d,
        cast(resolved_interactions as bigint) as resolved_interactions,
        cast(unresolved_interactions as bigint) as unresolved_interactions,
        cast(ai_handled_interactions as bigint) as ai_handled_interactions,
        cast(whatsapp_interactions as bigint) as whatsapp_interactions,
        cast(email_interactions as bigint) as email_interactions,
        cast(phone_interactions as bigint) as phone_interactions,
        cast(web_interactions as bigint) as web_interactions,
        {{ ratio(safe_divide('resolved_interactions', 'total_interactions')) }} as resolution_rate,
        {{ ratio('avg_resolution_minutes') }} as avg_resolution_minutes,
        cast(last_interaction_date as date) as last_interaction_date
    from aggregated
)

select * from final
