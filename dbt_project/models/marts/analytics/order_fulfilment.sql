{#
    Fulfilment timeline per order (grain: order_id): when each status was first recorded,
    the lead times from placement, the delivery promise of the customer's region and whether it
    was kept, the status a cancellation came from, and how precise the times are (see the doc
    block order_fulfilment).
#}
{%- set promise = var('delivery_promise_days') %}
with

status_changes as (
    select * from {{ ref('fact_order_status_changes') }}
),

customers as (
    select * from {{ ref('dim_customers') }}
),

timeline as (
    select
        order_id,
        customer_id,
        warehouse_id,
        placed_at,
        count(*) as statuses_recorded,
        max(status_sequence) as last_sequence,
        sum(case when captured_by = 'change_stream' then 1 else 0 end) as statuses_from_change_stream,
        min(case when order_status = 'confirmed' then changed_at end) as confirmed_at,
        min(case when order_status = 'processing' then changed_at end) as processing_at,
        min(case when order_status = 'shipped' then changed_at end) as shipped_at,
        min(case when order_status = 'delivered' then changed_at end) as delivered_at,
        min(case when order_status = 'cancelled' then changed_at end) as cancelled_at,
        min(case when order_status = 'cancelled' then status_sequence end) as cancelled_sequence
    from status_changes
    group by order_id, customer_id, warehouse_id, placed_at
),

current_status as (
    select
        timeline.order_id,
        latest.order_status,
        coalesce(cancellation.previous_status, 'not_observed') as cancelled_from_status
    from timeline
    inner join status_changes as latest
        on timeline.order_id = latest.order_id
            and timeline.last_sequence = latest.status_sequence
    left join status_changes as cancellation
        on timeline.order_id = cancellation.order_id
            and timeline.cancelled_sequence = cancellation.status_sequence
),

-- the customer's region when the order was placed (versions tile time from 1900-01-01)
placed_by as (
    select
        timeline.order_id,
        customers.region
    from timeline
    inner join customers
        on timeline.customer_id = customers.customer_id
            and timeline.placed_at >= customers.valid_from
            and (timeline.placed_at < customers.valid_to or customers.valid_to is null)
),

promised as (
    select
        timeline.*,
        current_status.order_status,
        current_status.cancelled_from_status,
        coalesce(placed_by.region, 'Unknown') as region,
        case coalesce(placed_by.region, 'Unknown')
            {%- for region, days in promise.items() if region != 'default' %}
            when '{{ region }}' then {{ days | int }}
            {%- endfor %}
            else {{ promise.get('default', 7) | int }}
        end as promised_delivery_days,
        {{ dbt.datediff('timeline.placed_at', 'timeline.confirmed_at', 'second') }} as seconds_to_confirmation,
        {{ dbt.datediff('timeline.placed_at', 'timeline.shipped_at', 'second') }} as seconds_to_shipping,
        {{ dbt.datediff('timeline.placed_at', 'timeline.delivered_at', 'second') }} as seconds_to_delivery
    from timeline
    inner join current_status
        on timeline.order_id = current_status.order_id
    left join placed_by
        on timeline.order_id = placed_by.order_id
),

final as (
    select
        order_id,
        customer_id,
        warehouse_id,
        region,
        order_status,
        cast(case when cancelled_at is not null then cancelled_from_status end as string) as cancelled_from_status,
        cast(
            case when statuses_from_change_stream = statuses_recorded then 'exact' else 'extraction' end as string
        ) as timing_precision,
        cast(statuses_recorded as bigint) as statuses_recorded,
        cast(promised_delivery_days as bigint) as promised_delivery_days,
        cast(round(seconds_to_confirmation / 3600.0, 2) as decimal(18, 2)) as hours_to_confirmation,
        cast(round(seconds_to_shipping / 3600.0, 2) as decimal(18, 2)) as hours_to_shipping,
        cast(round(seconds_to_delivery / 86400.0, 2) as decimal(18, 2)) as days_to_delivery,
        cast(delivered_at is not null as bool) as is_delivered,
        cast(
            case when delivered_at is not null then seconds_to_delivery <= promised_delivery_days * 86400 end as bool
        ) as is_on_time,
        cast(cancelled_at is not null as bool) as is_cancelled,
        placed_at,
        confirmed_at,
        processing_at,
        shipped_at,
        delivered_at,
        cancelled_at
    from promised
)

select * from final
