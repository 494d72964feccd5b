{#
    Customer dimension, type 2: one row per captured version (from the customers snapshot).
    Join a fact to the version in force at the event with customer_sk (facts carry it) or
    with customer_id and valid_from <= event_at < coalesce(valid_to, far future).
    The first version of each customer is valid from 1900-01-01 (see int_customer_versions).
    Personal data (LGPD): e-mail and phone only as SHA-256 (joinable, not readable); the contact
    person and street address stay in staging for operations and are not exposed here.
#}
with

versions as (
    select * from {{ ref('int_customer_versions') }}
),

final as (
    select
        customer_sk,
        customer_id,
        customer_name,
        legal_name,
        cnpj,
        {{ pii_sha256('email') }} as email_sha256,
        {{ pii_sha256('phone') }} as phone_sha256,
        city,
        state,
        region,
        zip_code,
        tier,
        status,
        credit_limit,
        payment_terms_days,
        version_number,
        is_current,
        is_deleted,
        cast(created_at as date) as signup_date,
        valid_from,
        valid_to,
        version_recorded_at,
        created_at,
        updated_at,
        deleted_at
    from versions
)

select * from final
