{# One row per Marketo activity, deduplicated on marketoGUID (a re-read window loads it again). #}
with

deduplicated as (
    {{ latest_version(source_or_empty('marketo', 'activities', {
        'marketoGUID': 'string', 'leadId': 'string', 'activityDate': 'timestamp',
        'activityTypeId': 'string', 'campaignId': 'string', 'primaryAttributeValueId': 'string',
        'primaryAttributeValue': 'string', 'attributes': 'string',
        '_batch_id': 'string', '_loaded_at': 'timestamp',
    }), 'marketoGUID', 'activityDate') }}
),

renamed as (
    select
        cast(marketoGUID as string) as activity_guid,
        cast(leadId as bigint) as lead_id,
        cast(activityTypeId as bigint) as activity_type_id,
        cast(campaignId as bigint) as campaign_id,
        cast(primaryAttributeValueId as string) as primary_attribute_value_id,
        cast(primaryAttributeValue as string) as primary_attribute_value,
        cast(attributes as string) as attributes_json,
        cast(activityDate as date) as activity_date,
        cast(activityDate as timestamp) as activity_at
    from deduplicated
)

select * from renamed
