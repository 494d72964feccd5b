{#
    Supplier dimension (type 1): manufacturers and distributors. The supplier's contact person
    is personal data (LGPD): e-mail and phone only as SHA-256, no name (staging keeps them).
#}
with

suppliers as (
    select * from {{ ref('stg_ops__suppliers') }}
),

final as (
    select
        supplier_id,
        supplier_name,
        cnpj,
        supplier_type,
        {{ pii_sha256('contact_email') }} as contact_email_sha256,
        {{ pii_sha256('contact_phone') }} as contact_phone_sha256,
        status,
        payment_terms_days,
        lead_time_days,
        created_at,
        updated_at
    from suppliers
)

select * from final
