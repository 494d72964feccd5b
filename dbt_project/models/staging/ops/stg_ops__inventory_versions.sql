{#
    Every recorded version of every inventory position (the raw table is append-only),
    from which the daily inventory snapshots are rebuilt. The only staging model that
    keeps history; exact repeats of a version (same id and cursor) are collapsed.
#}
with

source as (
    select * from {{ source('ops', 'inventory') }}
),

deduplicated as (
    select ranked.*
    from (
        select
            source.*,
            row_number() over (
                partition by source.id, source.last_updated
                order by source._loaded_at desc
            ) as _version_rank
        from source
    ) as ranked
    where ranked._version_rank = 1
),

renamed as (
    select
        {{ surrogate_key(['id', 'last_updated']) }} as inventory_version_id,
        cast(id as bigint) as inventory_id,
        cast(product_id as bigint) as product_id,
        cast(warehouse_id as bigint) as warehouse_id,
        cast(quantity_available as bigint) as quantity_available,
        cast(quantity_reserved as bigint) as quantity_reserved,
        cast(quantity_incoming as bigint) as quantity_incoming,
        cast(reorder_point as bigint) as reorder_point,
        cast(last_updated as timestamp) as last_updated_at,
        cast(_loaded_at as timestamp) as loaded_at
    from deduplicated
)

select * from renamed
