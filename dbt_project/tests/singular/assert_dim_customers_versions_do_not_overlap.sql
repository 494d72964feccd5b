-- SCD2 integrity: per customer exactly one current version, and versions tile time without
-- overlap (each version ends where the next begins). Returns offending versions.
with

versions as (
    select
        customer_id,
        customer_sk,
        valid_from,
        valid_to,
        is_current,
        lead(valid_from) over (partition by customer_id order by valid_from) as next_valid_from
    from {{ ref('dim_customers') }}
),

current_counts as (
    select
        customer_id,
        sum(case when is_current then 1 else 0 end) as current_versions
    from versions
    group by customer_id
)

select
    versions.customer_id,
    versions.customer_sk,
    'gap or overlap' as problem
from versions
where (versions.next_valid_from is null and versions.valid_to is not null)
    or (versions.next_valid_from is not null and (versions.valid_to is null or versions.valid_to <> versions.next_valid_from))

union all

select
    current_counts.customer_id,
    cast(null as {{ dbt.type_string() }}) as customer_sk,
    'not exactly one current version' as problem
from current_counts
where current_counts.current_versions <> 1
