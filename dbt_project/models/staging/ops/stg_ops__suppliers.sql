with

latest as (
    {{ latest_version(source('ops', 'suppliers'), 'id', 'updated_at') }}
),

renamed as (
    select
        cast(id as bigint) as supplier_id,
        cast(name as string) as supplier_name,
        cast(cnpj as string) as cnpj,
        cast(lower(supplier_type) as string) as supplier_type,
        cast(contact_name as string) as contact_name,
        cast(lower(contact_email) as string) as contact_email,
        cast(contact_phone as string) as contact_phone,
        cast(lower(status) as string) as status,
        cast(payment_terms_days as bigint) as payment_terms_days,
        cast(lead_time_days as bigint) as lead_time_days,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at
    {{- ops_new_columns('suppliers') }}
    from latest
)

select * from renamed
