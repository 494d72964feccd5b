{# One row per Marketo lead: its latest extracted version (newest updatedAt, then newest load). #}
with

latest as (
    {{ latest_version(source_or_empty('marketo', 'leads', {
        'id': 'string', 'email': 'string', 'firstName': 'string', 'lastName': 'string',
        'company': 'string', 'title': 'string', 'phone': 'string', 'city': 'string',
        'state': 'string', 'country': 'string', 'leadSource': 'string', 'leadStatus': 'string',
        'leadScore': 'string', 'unsubscribed': 'string', 'createdAt': 'timestamp',
        'updatedAt': 'timestamp', '_batch_id': 'string', '_loaded_at': 'timestamp',
    }), 'id', 'updatedAt') }}
),

renamed as (
    select
        cast(id as bigint) as lead_id,
        cast(email as string) as email,
        -- the lead-to-customer matching key (see int_marketo_leads_matched)
        cast(nullif(lower(trim(email)), '') as string) as email_normalized,
        cast(firstName as string) as first_name,
        cast(lastName as string) as last_name,
        cast(phone as string) as phone,
        cast(company as string) as company_name,
        cast(title as string) as job_title,
        cast(city as string) as city,
        cast(upper(state) as string) as state,
        cast(country as string) as country,
        cast(leadSource as string) as lead_source,
        cast(leadStatus as string) as lead_status,
        cast(leadScore as bigint) as lead_score,
        cast(coalesce(lower(unsubscribed) = 'true', false) as bool) as is_unsubscribed,
        cast(createdAt as timestamp) as created_at,
        cast(updatedAt as timestamp) as updated_at
    from latest
)

select * from renamed
