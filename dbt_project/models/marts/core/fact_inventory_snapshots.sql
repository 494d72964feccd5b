{#
    Daily inventory fact (grain: product x warehouse x snapshot_date), rebuilt from the raw
    inventory version history: each day holds the latest version as of that day's end.
    A full refresh builds the last var('inventory_snapshot_days') days up to the as-of date;
    an incremental run recomputes from var('inventory_snapshot_reprocess_days') days before
    the newest stored day (late versions) and merges on inventory_snapshot_key. Older days
    stay as they were: the table accumulates history beyond the window.
#}
{{ config(
    materialized='incremental',
    incremental_strategy='merge',
    unique_key='inventory_snapshot_key',
    on_schema_change='append_new_columns',
    partition_by=({'field': 'snapshot_date', 'data_type': 'date', 'granularity': 'day'} if target.type == 'bigquery' else none),
    cluster_by=(['product_id', 'warehouse_id'] if target.type == 'bigquery' else none),
) }}

with

daily as (
    select * from {{ ref('int_inventory_daily') }}
    {% if is_incremental() %}
    where snapshot_date >= (
        select {{ add_days(-(var('inventory_snapshot_reprocess_days', 3) | int), 'max(snapshot_date)') }}
        from {{ this }}
    )
    {% endif %}
),

products as (
    select * from {{ ref('stg_ops__products') }}
),

final as (
    select
        cast({{ surrogate_key(['daily.product_id', 'daily.warehouse_id', 'daily.snapshot_date']) }} as string) as inventory_snapshot_key,
        daily.product_id,
        daily.warehouse_id,
        daily.inventory_id,
        daily.quantity_available,
        daily.quantity_reserved,
        daily.quantity_incoming,
        cast(daily.quantity_available + daily.quantity_reserved as bigint) as quantity_on_hand,
        daily.reorder_point,
        {{ money('(daily.quantity_available + daily.quantity_reserved) * products.unit_cost') }} as stock_value_at_cost,
        cast(daily.quantity_available <= 0 as bool) as is_out_of_stock,
        cast(daily.quantity_available <= daily.reorder_point as bool) as is_below_reorder_point,
        daily.snapshot_date,
        daily.last_updated_at,
        {{ built_at() }} as _built_at
    from daily
    left join products
        on daily.product_id = products.product_id
)

select * from final
