{#
    Marketo engagement per customer as of var('as_of_date'), over the leads matched to the
    customer by e-mail (int_marketo_leads_matched). One row per customer with at least one
    matched lead. Windows count days back from the as-of date: "30d" = the as-of date and
    the 29 days before it. Engagement = an e-mail opened or clicked, a web visit or a form fill.
    programs_engaged = programs with an e-mail delivered, opened or clicked (sends alone excluded).
#}
with

leads as (
    select * from {{ ref('int_marketo_leads_matched') }}
    where is_matched_to_customer
),

activities as (
    select * from {{ ref('fact_marketing_activities') }}
    where customer_id is not null
        and activity_date <= {{ as_of_date() }}
),

lead_stats as (
    select
        customer_id,
        count(*) as marketo_leads,
        max(lead_score) as lead_score,
        max(case when is_unsubscribed then 1 else 0 end) as any_unsubscribed
    from leads
    group by customer_id
),

windowed as (
    select
        activities.*,
        {{ dbt.datediff('activities.activity_date', as_of_date(), 'day') }} as days_before_as_of
    from activities
),

activity_stats as (
    select
        customer_id,
        {%- for category, name in [
            ('email_delivered', 'emails_delivered'),
            ('email_opened', 'emails_opened'),
            ('email_clicked', 'emails_clicked'),
            ('web_visit', 'web_visits'),
            ('form_fill', 'form_fills'),
        ] %}
        {%- for days in [30, 90] %}
        sum(case when activity_category = '{{ category }}' and days_before_as_of < {{ days }} then 1 else 0 end) as {{ name }}_{{ days }}d,
        {%- endfor %}
        {%- endfor %}
        max(
            case
                when activity_category in ('email_opened', 'email_clicked', 'web_visit', 'form_fill')
                    then activity_date
            end
        ) as last_engagement_date,
        -- A program reached the customer when one of its e-mails was delivered, opened or
        -- clicked; a send alone (or a bounce) does not count.
        count(distinct case
            when activity_category in ('email_delivered', 'email_opened', 'email_clicked') then program_id
        end) as programs_engaged
    from windowed
    group by customer_id
),

final as (
    select
        lead_stats.customer_id,
        cast(lead_stats.marketo_leads as bigint) as marketo_leads,
        cast(lead_stats.lead_score as bigint) as lead_score,
        {%- for name in ['emails_delivered', 'emails_opened', 'emails_clicked', 'web_visits', 'form_fills'] %}
        {%- for days in [30, 90] %}
        cast(coalesce(activity_stats.{{ name }}_{{ days }}d, 0) as bigint) as {{ name }}_{{ days }}d,
        {%- endfor %}
        {%- endfor %}
        cast(coalesce(activity_stats.programs_engaged, 0) as bigint) as programs_engaged,
        cast(lead_stats.any_unsubscribed = 1 as bool) as is_unsubscribed,
        cast(activity_stats.last_engagement_date as date) as last_engagement_date
    from lead_stats
    left join activity_stats
        on lead_stats.customer_id = activity_stats.customer_id
)

select * from final
