{#
    Customer versions from the snapshot with closed validity intervals. The first captured
    version of each customer is made valid from 1900-01-01: whatever happened before the
    first capture is attributed to the earliest known version, so every order resolves a
    version (orders can predate the first snapshot run).
#}
with

snapshot as (
    select * from {{ ref('customers_snapshot') }}
),

numbered as (
    select
        snapshot.*,
        row_number() over (
            partition by snapshot.customer_id
            order by snapshot.dbt_valid_from
        ) as version_number
    from snapshot
),

final as (
    select
        cast(dbt_scd_id as string) as customer_sk,
        customer_id,
        customer_name,
        legal_name,
        cnpj,
        email,
        phone,
        contact_name,
        address_street,
        city,
        state,
        region,
        zip_code,
        tier,
        status,
        credit_limit,
        payment_terms_days,
        cast(version_number as bigint) as version_number,
        is_deleted,
        cast(dbt_valid_to is null as bool) as is_current,
        cast(case
            when version_number = 1 then cast('1900-01-01 00:00:00' as timestamp)
            else dbt_valid_from
        end as timestamp) as valid_from,
        cast(dbt_valid_to as timestamp) as valid_to,
        cast(dbt_valid_from as timestamp) as version_recorded_at,
        created_at,
        updated_at,
        deleted_at
    from numbered
)

select * from final
