{#
    Every recorded version of every inventory position (the raw table is append-only), from
    which the daily inventory snapshots and the inventory movements are built. History kept on
    purpose; exact repeats of a version (same id, cursor and change position) are collapsed.

    Versions are ordered per position (version_sequence) as latest_version orders them: by
    change position when the table is fed by change data capture (versions loaded in cursor
    mode before the switch, without a position, first), then by the cursor and the load.
    effective_at is when the version became the position: the commit time of a change event
    (exact), the cursor of a version read by an extraction or a snapshot (an image), never
    earlier than the version before it.

    With change data capture a position can also end: a delete of its key, or a truncate or a
    re-snapshot that does not hold it (is_removal, quantities NULL, product and warehouse of
    the version before it). In cursor mode a deleted position is never seen to end here (the
    hard-delete reconciliation records it in raw_ops._deleted_keys).
#}
{%- set cdc = has_change_positions(source('ops', 'inventory')) %}
with

source as (
    select * from {{ source('ops', 'inventory') }}
),

live as (
    select
        source.id,
        source.product_id,
        source.warehouse_id,
        source.quantity_available,
        source.quantity_reserved,
        source.quantity_incoming,
        source.reorder_point,
        source.last_updated,
        source._loaded_at,
        {% if cdc -%}
        source._cdc_position as change_position,
        case when source._cdc_operation in ('insert', 'update') then source._cdc_committed_at end as committed_at,
        false as is_removal
        {%- else -%}
        cast(null as string) as change_position,
        cast(null as timestamp) as committed_at,
        false as is_removal
        {%- endif %}
    from source
    {%- if cdc %}
    where source._cdc_operation is null or source._cdc_operation not in ('delete', 'truncate')
    {%- endif %}
),

{% if cdc -%}
-- Truncates and snapshots, each at one position: a key with a version before one and no row in
-- it has ended there.
ends as (
    select
        _cdc_position as end_position,
        max(_cdc_committed_at) as ended_at,
        max(_loaded_at) as loaded_at
    from source
    where _cdc_operation in ('truncate', 'snapshot')
    group by _cdc_position
),

keys_at_ends as (
    select
        ends.end_position,
        ends.ended_at,
        ends.loaded_at,
        source.id,
        max(case when source._cdc_position = ends.end_position then 1 else 0 end) as is_in_end,
        max(
            case when source._cdc_position is null or source._cdc_position < ends.end_position then 1 else 0 end
        ) as is_seen_before
    from ends
    cross join source
    where source.id is not null
    group by ends.end_position, ends.ended_at, ends.loaded_at, source.id
),

removals as (
    select
        source.id,
        source._cdc_position as change_position,
        source._cdc_committed_at as ended_at,
        source._loaded_at
    from source
    where source._cdc_operation = 'delete'

    union all

    select
        keys_at_ends.id,
        keys_at_ends.end_position as change_position,
        keys_at_ends.ended_at,
        keys_at_ends.loaded_at as _loaded_at
    from keys_at_ends
    where keys_at_ends.is_in_end = 0
        and keys_at_ends.is_seen_before = 1
),

versions as (
    select * from live

    union all

    select
        id,
        cast(null as bigint) as product_id,
        cast(null as bigint) as warehouse_id,
        cast(null as bigint) as quantity_available,
        cast(null as bigint) as quantity_reserved,
        cast(null as bigint) as quantity_incoming,
        cast(null as bigint) as reorder_point,
        ended_at as last_updated,
        _loaded_at,
        change_position,
        ended_at as committed_at,
        true as is_removal
    from removals
),
{%- else %}
versions as (
    select * from live
),
{%- endif %}

deduplicated as (
    select ranked.*
    from (
        select
            versions.*,
            row_number() over (
                partition by versions.id, versions.last_updated, versions.change_position, versions.is_removal
                order by versions._loaded_at desc
            ) as _repeat_rank
        from versions
    ) as ranked
    where ranked._repeat_rank = 1
),

sequenced as (
    select
        deduplicated.*,
        row_number() over (
            partition by deduplicated.id
            order by
                deduplicated.change_position asc nulls first,
                deduplicated.last_updated asc,
                deduplicated._loaded_at asc
        ) as version_sequence
    from deduplicated
),

carried as (
    select
        sequenced.*,
        -- a removal belongs to the product and warehouse of the version it ends
        last_value(sequenced.product_id ignore nulls) over (
            partition by sequenced.id order by sequenced.version_sequence
            rows between unbounded preceding and current row
        ) as carried_product_id,
        last_value(sequenced.warehouse_id ignore nulls) over (
            partition by sequenced.id order by sequenced.version_sequence
            rows between unbounded preceding and current row
        ) as carried_warehouse_id,
        max(coalesce(sequenced.committed_at, sequenced.last_updated)) over (
            partition by sequenced.id order by sequenced.version_sequence
            rows between unbounded preceding and current row
        ) as effective_at
    from sequenced
),

renamed as (
    select
        {% if cdc -%}
        {{ surrogate_key(['id', 'last_updated', 'change_position', 'is_removal']) }} as inventory_version_id,
        {%- else -%}
        {{ surrogate_key(['id', 'last_updated']) }} as inventory_version_id,
        {%- endif %}
        cast(id as bigint) as inventory_id,
        cast(carried_product_id as bigint) as product_id,
        cast(carried_warehouse_id as bigint) as warehouse_id,
        cast(version_sequence as bigint) as version_sequence,
        cast(quantity_available as bigint) as quantity_available,
        cast(quantity_reserved as bigint) as quantity_reserved,
        cast(quantity_incoming as bigint) as quantity_incoming,
        cast(reorder_point as bigint) as reorder_point,
        cast(is_removal as bool) as is_removal,
        cast(
            case when committed_at is not null then 'change_stream' else 'extraction' end as string
        ) as captured_by,
        cast(last_updated as timestamp) as last_updated_at,
        cast(effective_at as timestamp) as effective_at,
        cast(committed_at as timestamp) as committed_at,
        cast(change_position as string) as change_position,
        cast(_loaded_at as timestamp) as loaded_at
    from carried
)

select * from renamed
