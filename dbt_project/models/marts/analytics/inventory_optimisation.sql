{#
    Replenishment parameters per product x warehouse (grain: pairs with an inventory position
    or a sale in the last var('inventory_optimisation_days') days up to var('as_of_date')).
    Daily demand = non-cancelled units by order date, days without sales counting as 0; its
    standard deviation is the sample one over those days. Lead time = the product's supplier's
    lead_time_days, taken as fixed. Safety stock = z x demand std dev x sqrt(lead time) at the
    cycle service level var('inventory_service_level'); reorder point = mean demand x lead
    time + safety stock; order-up-to level = reorder point + mean demand x
    var('inventory_review_days').
#}
{%- set window_days = var('inventory_optimisation_days') | int -%}
with

order_lines as (
    select * from {{ ref('fact_orders') }}
    where not is_cancelled
        and order_date > {{ add_days(-window_days, as_of_date()) }}
        and order_date <= {{ as_of_date() }}
),

snapshots as (
    select * from {{ ref('fact_inventory_snapshots') }}
    where snapshot_date <= {{ as_of_date() }}
),

products as (
    select * from {{ ref('dim_products') }}
),

suppliers as (
    select * from {{ ref('dim_suppliers') }}
),

daily_units as (
    select
        product_id,
        warehouse_id,
        order_date,
        sum(quantity) as units
    from order_lines
    group by product_id, warehouse_id, order_date
),

demand as (
    select
        product_id,
        warehouse_id,
        sum(units) as units_sold,
        sum(units * units) as units_squared,
        count(*) as days_with_sales
    from daily_units
    group by product_id, warehouse_id
),

latest_stock as (
    select
        product_id,
        warehouse_id,
        quantity_available,
        quantity_incoming,
        reorder_point as source_reorder_point,
        snapshot_date
    from snapshots
    where snapshot_date = (select max(all_days.snapshot_date) from snapshots as all_days)
),

pairs as (
    select
        product_id,
        warehouse_id
    from demand
    union distinct
    select
        product_id,
        warehouse_id
    from latest_stock
),

joined as (
    select
        pairs.product_id,
        pairs.warehouse_id,
        coalesce(demand.units_sold, 0) as units_sold,
        coalesce(demand.units_squared, 0) as units_squared,
        coalesce(demand.days_with_sales, 0) as days_with_sales,
        suppliers.lead_time_days,
        latest_stock.quantity_available,
        latest_stock.quantity_incoming,
        latest_stock.source_reorder_point,
        latest_stock.snapshot_date
    from pairs
    left join demand
        on pairs.product_id = demand.product_id
            and pairs.warehouse_id = demand.warehouse_id
    left join latest_stock
        on pairs.product_id = latest_stock.product_id
            and pairs.warehouse_id = latest_stock.warehouse_id
    inner join products
        on pairs.product_id = products.product_id
    left join suppliers
        on products.supplier_id = suppliers.supplier_id
),

statistics as (
    select
        joined.*,
        cast(joined.units_sold as {{ type_double() }}) / {{ window_days }} as mean_daily_demand,
        sqrt(
            greatest(
                cast(joined.units_squared as {{ type_double() }})
                - cast(joined.units_sold as {{ type_double() }}) * joined.units_sold / {{ window_days }},
                0
            ) / {{ window_days - 1 }}
        ) as daily_demand_stddev
    from joined
),

levels as (
    select
        statistics.*,
        {{ service_level_z(var('inventory_service_level')) }} * statistics.daily_demand_stddev * sqrt(statistics.lead_time_days) as safety_stock,
        statistics.mean_daily_demand * statistics.lead_time_days
        + {{ service_level_z(var('inventory_service_level')) }} * statistics.daily_demand_stddev * sqrt(statistics.lead_time_days) as reorder_point,
        statistics.mean_daily_demand * (statistics.lead_time_days + {{ var('inventory_review_days') }})
        + {{ service_level_z(var('inventory_service_level')) }} * statistics.daily_demand_stddev * sqrt(statistics.lead_time_days) as order_up_to_level
    from statistics
),

final as (
    select
        {{ surrogate_key(['product_id', 'warehouse_id']) }} as inventory_optimisation_key,
        product_id,
        warehouse_id,
        cast(units_sold as bigint) as units_sold,
        cast(days_with_sales as bigint) as days_with_sales,
        cast(lead_time_days as bigint) as lead_time_days,
        cast(quantity_available as bigint) as quantity_available,
        cast(quantity_incoming as bigint) as quantity_incoming,
        cast(source_reorder_point as bigint) as source_reorder_point,
        cast(ceil(safety_stock) as bigint) as safety_stock,
        cast(ceil(reorder_point) as bigint) as reorder_point,
        cast(ceil(order_up_to_level) as bigint) as order_up_to_level,
        case
            when quantity_available is not null
                and quantity_available + quantity_incoming <= ceil(reorder_point)
                then cast(ceil(order_up_to_level) - (quantity_available + quantity_incoming) as bigint)
            else 0
        end as suggested_order_quantity,
        {{ ratio('mean_daily_demand') }} as mean_daily_demand,
        {{ ratio('daily_demand_stddev') }} as daily_demand_stddev,
        {{ ratio(safe_divide('quantity_available', 'mean_daily_demand')) }} as days_of_cover,
        cast({{ var('inventory_service_level') }} as decimal(18, 4)) as service_level,
        quantity_available is not null as has_inventory_position,
        quantity_available is not null
        and quantity_available + quantity_incoming <= ceil(reorder_point) as is_understocked,
        quantity_available is not null
        and quantity_available > ceil(order_up_to_level) + {{ var('inventory_overstock_days') }} * mean_daily_demand as is_overstocked,
        snapshot_date as stock_snapshot_date,
        {{ as_of_date() }} as as_of_date
    from levels
)

select * from final
