{#
    Order-line fact (grain: one row per order item). Incremental merge on order_item_id:
    a run re-reads only lines whose item or whose order changed since the newest change
    already stored (source updated_at, minus a lookback for late commits), so order status
    changes reach lines that did not change themselves. _loaded_at is never compared.
    Two self-healing conditions complete it: a line not stored yet (committed later than the
    lookback covers) and a line whose customer version changed (a customer change that
    reached the snapshot after the order) are re-read too.
    The lines to re-read are picked from staging first and only they are priced
    (order_lines_priced_ctes, the body of int_order_lines_priced): pricing every line and
    filtering afterwards cost a run time in proportion to the whole history.
    Lines whose order or line was deleted in the source (or removed from raw by retention)
    are deleted from the table by the post-hook, which a merge alone never does. The hook asks
    staging which lines exist (order_line_ids_in_force), not int_order_lines_priced: that view
    would price every line of history again on each run.
#}
{{ config(
    materialized='incremental',
    incremental_strategy='merge',
    unique_key='order_item_id',
    on_schema_change='append_new_columns',
    post_hook=[
        "delete from {{ this }} where order_item_id not in ({{ order_line_ids_in_force() }})",
    ],
    partition_by=({'field': 'order_date', 'data_type': 'date', 'granularity': 'day'} if target.type == 'bigquery' else none),
    cluster_by=(['customer_id', 'product_id', 'order_status'] if target.type == 'bigquery' else none),
) }}
-- depends_on: {{ ref('stg_ops__order_items') }}
-- depends_on: {{ ref('stg_ops__orders') }}
-- depends_on: {{ ref('stg_ops__products') }}
-- depends_on: {{ ref('stg_ops__pricing') }}
-- depends_on: {{ ref('int_customer_versions') }}

with

{% if not is_incremental() %}

changed_lines as (
    select * from {{ ref('int_order_lines_priced') }}
),

{% else %}
{% set lookback_hours = var('incremental_lookback_hours', 6) | int %}
stored as (
    select
        order_item_id,
        customer_id,
        customer_sk,
        ordered_at
    from {{ this }}
),

watermarks as (
    select
        cast({{ dbt.dateadd('hour', -lookback_hours, 'max(item_updated_at)') }} as timestamp) as item_updated_since,
        cast({{ dbt.dateadd('hour', -lookback_hours, 'max(order_updated_at)') }} as timestamp) as order_updated_since
    from {{ this }}
),

-- The lines to re-read, found in staging (cheap scans and equality joins) before any pricing.
lines_to_reread as (
    -- the line or its order changed since the newest stored change, minus the lookback
    select staged_items.order_item_id
    from {{ ref('stg_ops__order_items') }} as staged_items
    inner join {{ ref('stg_ops__orders') }} as staged_orders
        on staged_items.order_id = staged_orders.order_id
    cross join watermarks
    where staged_items.updated_at >= watermarks.item_updated_since
        or staged_orders.updated_at >= watermarks.order_updated_since

    union all

    -- not stored yet
    select staged_items.order_item_id
    from {{ ref('stg_ops__order_items') }} as staged_items
    left join stored
        on staged_items.order_item_id = stored.order_item_id
    where stored.order_item_id is null

    union all

    -- stored with a customer version that no longer covers the order time (versions of one
    -- customer never overlap, so a version that still covers it is still the right one)
    select stored.order_item_id
    from stored
    left join {{ ref('int_customer_versions') }} as stored_versions
        on stored.customer_sk = stored_versions.customer_sk
    where (stored.customer_sk is not null and stored_versions.customer_sk is null)
        or stored_versions.valid_from > stored.ordered_at
        or stored_versions.valid_to <= stored.ordered_at
        or (
            stored.customer_sk is null
            and stored.customer_id in (select customer_id from {{ ref('int_customer_versions') }})
        )
),

{{ order_lines_priced_ctes(line_ids='lines_to_reread') }},

changed_lines as (
    select * from priced_lines
),

{% endif %}

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
        order_updated_at,
        {{ built_at() }} as _built_at
    from changed_lines
)

select * from final
