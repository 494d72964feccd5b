with

latest as (
    {{ latest_version(source('ops', 'pricing'), 'id', 'updated_at') }}
),

renamed as (
    select
        cast(id as bigint) as price_id,
        cast(product_id as bigint) as product_id,
        cast(lower(customer_tier) as string) as customer_tier,
        cast(price as decimal(18, 2)) as price,
        cast(customer_tier is null as bool) as is_list_price,
        cast(effective_from as date) as effective_from,
        cast(effective_to as date) as effective_to,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at
    {{- ops_new_columns('pricing') }}
    from latest
)

select * from renamed
