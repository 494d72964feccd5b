with

latest as (
    {{ latest_version_with_deletes(source('ops', 'customers'), 'id', 'updated_at') }}
),

renamed as (
    select
        cast(id as bigint) as customer_id,
        cast(name as string) as customer_name,
        cast(legal_name as string) as legal_name,
        cast(cnpj as string) as cnpj,
        cast(lower(email) as string) as email,
        cast(phone as string) as phone,
        cast(contact_name as string) as contact_name,
        cast(address_street as string) as address_street,
        cast(address_city as string) as city,
        cast(upper(address_state) as string) as state,
        cast({{ brazil_region('upper(address_state)') }} as string) as region,
        cast(address_zip as string) as zip_code,
        cast(lower(tier) as string) as tier,
        cast(lower(status) as string) as status,
        cast(credit_limit as decimal(18, 2)) as credit_limit,
        cast(payment_terms_days as bigint) as payment_terms_days,
        cast(deleted_at is not null or _hard_deleted_at is not null as bool) as is_deleted,
        cast(_hard_deleted_at is not null as bool) as is_hard_deleted,
        cast(created_at as timestamp) as created_at,
        -- A hard delete is a change: it moves updated_at so the snapshot records it.
        cast(greatest(updated_at, coalesce(_hard_deleted_at, updated_at)) as timestamp) as updated_at,
        cast(coalesce(deleted_at, _hard_deleted_at) as timestamp) as deleted_at
    {{- ops_new_columns('customers') }}
    from latest
)

select * from renamed
