{#
    One row per activity type (newest snapshot), categorised for engagement metrics. Standard
    types have the same id in every Marketo instance, so the category follows the id.
#}
with

latest as (
    {{ latest_version(source_or_empty('marketo', 'activity_types', {
        'id': 'string', 'name': 'string', 'description': 'string',
        'primaryAttribute': 'string', 'attributes': 'string', '_extracted_at': 'timestamp',
        '_batch_id': 'string', '_loaded_at': 'timestamp',
    }), 'id', '_extracted_at') }}
),

renamed as (
    select
        cast(id as bigint) as activity_type_id,
        cast(name as string) as activity_type_name,
        cast(description as string) as description,
        cast({{ json_string('primaryAttribute', '$.name') }} as string) as primary_attribute_name,
        cast(
            case cast(id as bigint)
                when 1 then 'web_visit'
                when 2 then 'form_fill'
                when 6 then 'email_sent'
                when 7 then 'email_delivered'
                when 9 then 'email_unsubscribed'
                when 10 then 'email_opened'
                when 11 then 'email_clicked'
                when 12 then 'new_lead'
                when 13 then 'data_value_change'
                else 'other'
            end as string
        ) as activity_category,
        cast(_extracted_at as timestamp) as extracted_at
    from latest
)

select * from renamed
