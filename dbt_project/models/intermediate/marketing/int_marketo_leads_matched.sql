{#
    Marketo leads matched to customers (pharmacies) by e-mail: both sides lower-cased and
    trimmed; a blank e-mail never matches. If several customers share an e-mail the lowest
    customer_id wins, so a lead matches at most one customer. Soft-deleted customers still
    match (customer_360 keeps them). See the docs block `marketo_lead_matching`.
#}
with

leads as (
    select * from {{ ref('stg_marketo__leads') }}
),

customers as (
    select * from {{ ref('stg_ops__customers') }}
),

customer_emails as (
    select
        cast(nullif(lower(trim(customers.email)), '') as string) as email_normalized,
        min(customers.customer_id) as customer_id
    from customers
    where customers.email is not null
    group by 1
),

final as (
    select
        leads.lead_id,
        customer_emails.customer_id,
        leads.email_normalized,
        leads.lead_score,
        leads.lead_status,
        leads.is_unsubscribed,
        cast(customer_emails.customer_id is not null as bool) as is_matched_to_customer,
        leads.created_at,
        leads.updated_at
    from leads
    left join customer_emails
        on leads.email_normalized = customer_emails.email_normalized
)

select * from final
