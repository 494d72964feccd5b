{#
    Daily inventory position per product x warehouse for the last
    var('inventory_snapshot_days') days up to the as-of date: for each day, the latest
    recorded version at the end of that day. A position appears from the first day it exists.
#}
with

versions as (
    select * from {{ ref('stg_ops__inventory_versions') }}
),

ranged as (
    select
        versions.*,
        lead(versions.last_updated_at) over (
            partition by versions.product_id, versions.warehouse_id
            order by versions.last_updated_at, versions.loaded_at
        ) as superseded_at
    from versions
),

days as (
    select
        {{ add_days('-offsets.day_offset', as_of_date()) }} as snapshot_date
    from ({{ day_offsets(var('inventory_snapshot_days', 90)) }}) as offsets
),

daily as (
    select
        days.snapshot_date,
        ranged.product_id,
        ranged.warehouse_id,
        ranged.inventory_id,
        ranged.quantity_available,
        ranged.quantity_reserved,
        ranged.quantity_incoming,
        ranged.reorder_point,
        ranged.last_updated_at
    from days
    inner join ranged
        on ranged.last_updated_at < {{ end_of_day('days.snapshot_date') }}
        and (
            ranged.superseded_at is null
            or ranged.superseded_at >= {{ end_of_day('days.snapshot_date') }}
        )
)

select * from daily
