{#
    Fulfilment by month placed x warehouse x customer region (grain: month_start_date,
    warehouse_id, region; order_fulfilment_month_key). Delivery figures count the orders whose
    delivery was observed; p90 is the nearest-rank percentile (the smallest value at or above
    90% of the ordered values), exact integer arithmetic on both engines.
#}
with

fulfilment as (
    select
        order_fulfilment.*,
        cast({{ dbt.date_trunc('month', 'order_fulfilment.placed_at') }} as date) as month_start_date
    from {{ ref('order_fulfilment') }} as order_fulfilment
),

ranked_deliveries as (
    select
        month_start_date,
        warehouse_id,
        region,
        days_to_delivery,
        row_number() over (
            partition by month_start_date, warehouse_id, region
            order by days_to_delivery, order_id
        ) as delivery_rank,
        count(*) over (partition by month_start_date, warehouse_id, region) as deliveries
    from fulfilment
    where days_to_delivery is not null
),

p90 as (
    select
        month_start_date,
        warehouse_id,
        region,
        min(days_to_delivery) as p90_days_to_delivery
    from ranked_deliveries
    -- nearest rank: ceil(0.9 n) = floor((9 n + 9) / 10)
    where delivery_rank >= {{ int_div('9 * deliveries + 9', 10) }}
    group by month_start_date, warehouse_id, region
),

aggregated as (
    select
        month_start_date,
        warehouse_id,
        region,
        count(*) as orders_count,
        sum(case when is_delivered then 1 else 0 end) as delivered_orders_count,
        sum(case when is_on_time then 1 else 0 end) as on_time_orders_count,
        {{ decimal_avg('days_to_delivery', 2) }} as avg_days_to_delivery,
        sum(case when is_cancelled then 1 else 0 end) as cancelled_orders_count,
        sum(case when cancelled_from_status = 'pending' then 1 else 0 end) as cancelled_from_pending_count,
        sum(case when cancelled_from_status = 'confirmed' then 1 else 0 end) as cancelled_from_confirmed_count,
        sum(case when cancelled_from_status = 'processing' then 1 else 0 end) as cancelled_from_processing_count,
        sum(
            case when cancelled_from_status in ('shipped', 'delivered') then 1 else 0 end
        ) as cancelled_after_shipping_count,
        sum(case when cancelled_from_status = 'not_observed' then 1 else 0 end) as cancelled_not_observed_count
    from fulfilment
    group by month_start_date, warehouse_id, region
),

final as (
    select
        cast({{ surrogate_key(['aggregated.month_start_date', 'aggregated.warehouse_id', 'aggregated.region']) }} as string)
            as order_fulfilment_month_key,
        aggregated.warehouse_id,
        aggregated.region,
        cast(aggregated.orders_count as bigint) as orders_count,
        cast(aggregated.delivered_orders_count as bigint) as delivered_orders_count,
        cast(aggregated.on_time_orders_count as bigint) as on_time_orders_count,
        {{ ratio(safe_divide('aggregated.on_time_orders_count', 'aggregated.delivered_orders_count')) }} as on_time_rate,
        cast(round(aggregated.avg_days_to_delivery, 2) as decimal(18, 2)) as avg_days_to_delivery,
        cast(p90.p90_days_to_delivery as decimal(18, 2)) as p90_days_to_delivery,
        cast(aggregated.cancelled_orders_count as bigint) as cancelled_orders_count,
        cast(aggregated.cancelled_from_pending_count as bigint) as cancelled_from_pending_count,
        cast(aggregated.cancelled_from_confirmed_count as bigint) as cancelled_from_confirmed_count,
        cast(aggregated.cancelled_from_processing_count as bigint) as cancelled_from_processing_count,
        cast(aggregated.cancelled_after_shipping_count as bigint) as cancelled_after_shipping_count,
        cast(aggregated.cancelled_not_observed_count as bigint) as cancelled_not_observed_count,
        aggregated.month_start_date
    from aggregated
    left join p90
        on aggregated.month_start_date = p90.month_start_date
            and aggregated.warehouse_id = p90.warehouse_id
            and aggregated.region = p90.region
)

select * from final
