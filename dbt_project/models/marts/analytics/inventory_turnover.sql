{#
    Inventory turnover per product x warehouse over the daily-snapshot window ending on
    var('as_of_date') (the last var('inventory_snapshot_days') days):
      turnover_ratio       units sold in the window / average units on hand
      annualized_turnover  turnover_ratio scaled to 365 days
      days_of_inventory    average units on hand / average units sold per day
    plus stock-out and below-reorder-point days and the closing position.
#}
with

inventory as (
    select * from {{ ref('fact_inventory_snapshots') }}
    where snapshot_date > {{ add_days(-(var('inventory_snapshot_days', 90) | int), as_of_date()) }}
        and snapshot_date <= {{ as_of_date() }}
),

order_lines as (
    select * from {{ ref('fact_orders') }}
    where not is_cancelled
        and order_date > {{ add_days(-(var('inventory_snapshot_days', 90) | int), as_of_date()) }}
        and order_date <= {{ as_of_date() }}
),

stock as (
    select
        product_id,
        warehouse_id,
        count(*) as days_observed,
        min(snapshot_date) as period_start_date,
        max(snapshot_date) as period_end_date,
        avg(quantity_on_hand) as avg_quantity_on_hand,
        avg(stock_value_at_cost) as avg_stock_value_at_cost,
        sum(case when is_out_of_stock then 1 else 0 end) as stockout_days,
        sum(case when is_below_reorder_point then 1 else 0 end) as below_reorder_point_days
    from inventory
    group by product_id, warehouse_id
),

closing as (
    select
        inventory.product_id,
        inventory.warehouse_id,
        inventory.quantity_available as closing_quantity_available,
        inventory.quantity_on_hand as closing_quantity_on_hand,
        inventory.is_below_reorder_point as is_below_reorder_point
    from inventory
    inner join stock
        on inventory.product_id = stock.product_id
        and inventory.warehouse_id = stock.warehouse_id
        and inventory.snapshot_date = stock.period_end_date
),

sales as (
    select
        product_id,
        warehouse_id,
        sum(quantity) as units_sold,
        sum(cost_amount) as cogs_amount
    from order_lines
    group by product_id, warehouse_id
),

joined as (
    select
        stock.*,
        closing.closing_quantity_available,
        closing.closing_quantity_on_hand,
        closing.is_below_reorder_point,
        coalesce(sales.units_sold, 0) as units_sold,
        coalesce(sales.cogs_amount, 0) as cogs_amount
    from stock
    inner join closing
        on stock.product_id = closing.product_id
        and stock.warehouse_id = closing.warehouse_id
    left join sales
        on stock.product_id = sales.product_id
        and stock.warehouse_id = sales.warehouse_id
),

final as (
    select
        cast({{ surrogate_key(['product_id', 'warehouse_id']) }} as string) as inventory_turnover_key,
        product_id,
        warehouse_id,
        cast(days_observed as bigint) as days_observed,
        cast(units_sold as bigint) as units_sold,
        cast(stockout_days as bigint) as stockout_days,
        cast(below_reorder_point_days as bigint) as below_reorder_point_days,
        cast(closing_quantity_available as bigint) as closing_quantity_available,
        cast(closing_quantity_on_hand as bigint) as closing_quantity_on_hand,
        {{ ratio('avg_quantity_on_hand') }} as avg_quantity_on_hand,
        {{ money('avg_stock_value_at_cost') }} as avg_stock_value_at_cost,
        {{ money('cogs_amount') }} as cogs_amount,
        {{ ratio(safe_divide('units_sold', 'avg_quantity_on_hand')) }} as turnover_ratio,
        {{ ratio(safe_divide('units_sold * 365.0', 'avg_quantity_on_hand * days_observed')) }} as annualized_turnover,
        {{ ratio(safe_divide('avg_quantity_on_hand * days_observed', 'units_sold')) }} as days_of_inventory,
        {{ ratio(safe_divide('stockout_days', 'days_observed')) }} as stockout_rate,
        cast(is_below_reorder_point as bool) as is_below_reorder_point,
        period_start_date,
        period_end_date
    from joined
)

select * from final
