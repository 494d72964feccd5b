{#
    Order-line fact (grain: one row per order item). Incremental merge on order_item_id:
    a run re-reads only lines whose item or whose order changed since the newest change
    already stored (source updated_at, minus a lookback for late commits), so order status
    changes reach lines that did not change themselves. _loaded_at is never compared.
    Two self-healing conditions complete it: a line not stored yet (committed later than the
    lookback covers) and a line whose customer version changed (a customer change that
    reached the snapshot after the order) are re-read too.
    Lines whose order or line was deleted in the source (or removed from raw by retention)
    are deleted from the table by the post-hook, which a merge alone never does.
#}
{{ config(
    materialized='incremental',
    incremental_strategy='merge',
    unique_key='order_item_id',
    on_schema_change='append_new_columns',
    post_hook=[
        "delete from {{ this }} where order_item_id not in (select order_item_id from {{ ref('int_order_lines_priced') }})",
    ],
    partition_by=({'field': 'order_date', 'data_type': 'date', 'granularity': 'day'} if target.type == 'bigquery' else none),
    cluster_by=(['customer_id', 'product_id', 'order_status'] if target.type == 'bigquery' else none),
) }}

with

order_lines as (
    select * from {{ ref('int_order_lines_priced') }}
),

{% if is_incremental() %}
{% set lookback_hours = var('incremental_lookback_hours', 6) | int %}
stored as (
    select
        order_item_id,
        customer_sk
    from {{ this }}
),

watermarks as (
    select
        cast({{ dbt.dateadd('hour', -lookback_hours, 'max(item_updated_at)') }} as timestamp) as item_updated_since,
        cast({{ dbt.dateadd('hour', -lookback_hours, 'max(order_updated_at)') }} as timestamp) as order_updated_since
    from {{ this }}
),
{% endif %}

changed_lines as (
    select order_lines.*
    from order_lines
    {% if is_incremental() %}
    cross join watermarks
    left join stored
        on order_lines.order_item_id = stored.order_item_id
    where order_lines.item_updated_at >= watermarks.item_updated_since
        or order_lines.order_updated_at >= watermarks.order_updated_since
        or stored.order_item_id is null
        or coalesce(stored.customer_sk, '') <> coalesce(order_lines.customer_sk, '')
    {% endif %}
),

final as (
    select
        order_item_id,
        order_id,
        customer_id,
        customer_sk,
        product_id,
        warehouse_id,
        order_status,
        payment_method,
        payment_status,
        customer_tier,
        quantity,
        unit_price,
        list_price,
        tier_price,
        gross_amount,
        discount_amount,
        tax_amount,
        net_amount,
        cost_amount,
        margin_amount,
        is_tier_priced,
        is_cancelled,
        order_date,
        ordered_at,
        item_updated_at,
        order_updated_at
    from changed_lines
)

select * from final
