{#
    Daily inventory position per product x warehouse up to the as-of date: for each day, the
    version in effect at the end of that day (stg_ops__inventory_versions.effective_at: the
    commit time of a change event with change data capture, the cursor of an extracted
    version), none once the position was removed.

    Days start when the picture is complete, never earlier. The raw table holds every extracted
    version, but nothing from before a position's first version: a position the first
    extraction found with last_updated on day D is unknown before D, and showing the other
    positions alone for those days would understate the stock. So the first day is the day of
    the latest first-version last_updated among the positions the first extraction found (the
    positions that existed when the warehouse first looked); positions created later appear
    from their own first version, as they should. The window is the last
    var('inventory_snapshot_days') days, cut at that first fully observed day.
#}
with

versions as (
    select * from {{ ref('stg_ops__inventory_versions') }}
),

first_versions as (
    select
        inventory_id,
        min(last_updated_at) as first_updated_at
    from versions
    where not is_removal
    group by inventory_id
),

-- Positions whose first version is older than the first load existed when the warehouse first
-- looked; the last of them to have been updated sets the first complete day.
observation as (
    select cast(max(first_versions.first_updated_at) as date) as fully_observed_from
    from first_versions
    where first_versions.first_updated_at <= (select min(versions.loaded_at) from versions)
),

ranged as (
    select
        versions.*,
        lead(versions.effective_at) over (
            partition by versions.product_id, versions.warehouse_id
            order by versions.effective_at, versions.inventory_id, versions.version_sequence
        ) as superseded_at
    from versions
),

days as (
    select
        {{ add_days('-offsets.day_offset', as_of_date()) }} as snapshot_date
    from ({{ day_offsets(var('inventory_snapshot_days', 90)) }}) as offsets
),

observed_days as (
    select days.snapshot_date
    from days
    cross join observation
    where days.snapshot_date >= observation.fully_observed_from
),

daily as (
    select
        observed_days.snapshot_date,
        ranged.product_id,
        ranged.warehouse_id,
        ranged.inventory_id,
        ranged.quantity_available,
        ranged.quantity_reserved,
        ranged.quantity_incoming,
        ranged.reorder_point,
        ranged.last_updated_at
    from observed_days
    inner join ranged
        on ranged.effective_at < {{ end_of_day('observed_days.snapshot_date') }}
            and (
                ranged.superseded_at is null
                or ranged.superseded_at >= {{ end_of_day('observed_days.snapshot_date') }}
            )
    -- a position removed (change data capture) holds no stock from its removal on
    where not ranged.is_removal
)

select * from daily
