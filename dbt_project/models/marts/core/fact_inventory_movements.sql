{#
    Inventory movements (grain: one row per change of an inventory position's quantities,
    inventory_movement_key). From the position's versions in order: its opening (the first
    version recorded), every later version whose available, reserved or incoming quantity
    differs from the version before it, and its removal (change data capture only). Each row
    holds the quantities after the movement and the change from before, so a position's
    movements sum to its current stock (zero once removed). A version that changed only the
    reorder point, or a removal of a position already removed, is no movement.
#}
with

versions as (
    select * from {{ ref('stg_ops__inventory_versions') }}
),

compared as (
    select
        versions.*,
        lag(versions.quantity_available) over (
            partition by versions.inventory_id order by versions.version_sequence
        ) as previous_available,
        lag(versions.quantity_reserved) over (
            partition by versions.inventory_id order by versions.version_sequence
        ) as previous_reserved,
        lag(versions.quantity_incoming) over (
            partition by versions.inventory_id order by versions.version_sequence
        ) as previous_incoming,
        lag(versions.is_removal) over (
            partition by versions.inventory_id order by versions.version_sequence
        ) as previous_is_removal
    from versions
),

movements as (
    select
        compared.*,
        case
            when compared.is_removal then 'removal'
            when compared.previous_is_removal is null or compared.previous_is_removal then 'opening'
            else 'change'
        end as movement_type,
        -- before: nothing at an opening; the quantities after: nothing left at a removal
        coalesce(case when not compared.previous_is_removal then compared.previous_available end, 0) as available_before,
        coalesce(case when not compared.previous_is_removal then compared.previous_reserved end, 0) as reserved_before,
        coalesce(case when not compared.previous_is_removal then compared.previous_incoming end, 0) as incoming_before,
        coalesce(compared.quantity_available, 0) as available_after,
        coalesce(compared.quantity_reserved, 0) as reserved_after,
        coalesce(compared.quantity_incoming, 0) as incoming_after
    from compared
    where not (compared.is_removal and coalesce(compared.previous_is_removal, true))
),

changed as (
    select
        movements.*,
        row_number() over (
            partition by movements.inventory_id order by movements.version_sequence
        ) as movement_sequence
    from movements
    where movements.movement_type <> 'change'
        or movements.available_after <> movements.available_before
        or movements.reserved_after <> movements.reserved_before
        or movements.incoming_after <> movements.incoming_before
),

final as (
    select
        cast({{ surrogate_key(['inventory_id', 'movement_sequence']) }} as string) as inventory_movement_key,
        inventory_id,
        product_id,
        warehouse_id,
        cast(movement_sequence as bigint) as movement_sequence,
        cast(movement_type as string) as movement_type,
        captured_by,
        effective_at as moved_at,
        committed_at,
        cast(available_after as bigint) as quantity_available,
        cast(reserved_after as bigint) as quantity_reserved,
        cast(incoming_after as bigint) as quantity_incoming,
        cast(available_after + reserved_after as bigint) as quantity_on_hand,
        cast(available_after - available_before as bigint) as quantity_available_change,
        cast(reserved_after - reserved_before as bigint) as quantity_reserved_change,
        cast(incoming_after - incoming_before as bigint) as quantity_incoming_change,
        cast((available_after + reserved_after) - (available_before + reserved_before) as bigint)
            as quantity_on_hand_change
    from changed
)

select * from final
