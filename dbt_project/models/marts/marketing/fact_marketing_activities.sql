{#
    Marketing activity fact (grain: one row per Marketo activity), with the lead's customer
    (matched by normalised e-mail, NULL when the lead is no customer), the activity category
    and, for e-mail activities, the program the e-mail belongs to (Marketo names program
    e-mails `<program name>.<e-mail name>`; the longest matching program name wins).
    Incremental merge on activity_guid: rows not stored yet (new days, backfilled old days)
    and rows whose customer or program match changed are (re)written.
#}
{{ config(
    materialized='incremental',
    incremental_strategy='merge',
    unique_key='activity_guid',
    on_schema_change='append_new_columns',
    partition_by=({'field': 'activity_date', 'data_type': 'date', 'granularity': 'day'} if target.type == 'bigquery' else none),
    cluster_by=(['customer_id', 'activity_category'] if target.type == 'bigquery' else none),
) }}

with

activities as (
    select * from {{ ref('stg_marketo__activities') }}
),

activity_types as (
    select * from {{ ref('stg_marketo__activity_types') }}
),

leads as (
    select * from {{ ref('int_marketo_leads_matched') }}
),

programs as (
    select * from {{ ref('stg_marketo__programs') }}
),

typed as (
    select
        activities.*,
        coalesce(activity_types.activity_type_name, 'unknown') as activity_type_name,
        coalesce(activity_types.activity_category, 'other') as activity_category
    from activities
    left join activity_types
        on activities.activity_type_id = activity_types.activity_type_id
),

email_programs as (
    select
        typed.activity_guid,
        programs.program_id,
        row_number() over (
            partition by typed.activity_guid
            order by length(programs.program_name) desc, programs.program_id
        ) as program_rank
    from typed
    inner join programs
        on starts_with(typed.primary_attribute_value, {{ dbt.concat(["programs.program_name", "'.'"]) }})
    where typed.activity_category like 'email%'
),

resolved as (
    select
        typed.*,
        leads.customer_id,
        email_programs.program_id
    from typed
    left join leads
        on typed.lead_id = leads.lead_id
    left join email_programs
        on typed.activity_guid = email_programs.activity_guid
            and email_programs.program_rank = 1
),

{% if is_incremental() %}
stored as (
    select
        activity_guid,
        customer_id,
        program_id
    from {{ this }}
),
{% endif %}

changed as (
    select resolved.*
    from resolved
    {% if is_incremental() %}
    left join stored
        on resolved.activity_guid = stored.activity_guid
    where stored.activity_guid is null
        or coalesce(stored.customer_id, -1) <> coalesce(resolved.customer_id, -1)
        or coalesce(stored.program_id, -1) <> coalesce(resolved.program_id, -1)
    {% endif %}
),

final as (
    select
        cast(activity_guid as string) as activity_guid,
        cast(lead_id as bigint) as lead_id,
        cast(customer_id as bigint) as customer_id,
        cast(activity_type_id as bigint) as activity_type_id,
        cast(program_id as bigint) as program_id,
        cast(campaign_id as bigint) as campaign_id,
        cast(activity_type_name as string) as activity_type_name,
        cast(activity_category as string) as activity_category,
        cast(primary_attribute_value_id as string) as primary_attribute_value_id,
        cast(primary_attribute_value as string) as primary_attribute_value,
        cast(attributes_json as string) as attributes_json,
        cast(customer_id is not null as bool) as is_customer_activity,
        cast(activity_date as date) as activity_date,
        cast(activity_at as timestamp) as activity_at,
        {{ built_at() }} as _built_at
    from changed
)

select * from final
