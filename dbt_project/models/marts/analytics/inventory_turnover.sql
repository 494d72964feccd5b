{#
    Inventory turnover per product x warehouse over the window of var('inventory_snapshot_days')
    days ending on var('as_of_date') (default 90). Grain: every product x warehouse pair with a
    stock snapshot in the window OR units sold from that warehouse in the window: sales of a
    pair the warehouse holds no inventory position for are kept (has_inventory_position false,
    stock figures null) so that units and cost add up to the sales of the window.

    The sales window is always the whole window (window_days), whatever the number of snapshot
    days: the stock snapshots may cover only part of it (fact_inventory_snapshots starts on the
    first fully observed day), and their average is the best estimate of the average stock over
    the window.
      turnover_ratio       units sold in the window / average units on hand
      annualized_turnover  turnover_ratio x 365 / window_days
      days_of_inventory    average units on hand / (units sold in the window / window_days)
#}
{%- set window_days = var('inventory_snapshot_days', 90) | int %}
with

inventory as (
    select * from {{ ref('fact_inventory_snapshots') }}
    where snapshot_date > {{ add_days(-window_days, as_of_date()) }}
        and snapshot_date <= {{ as_of_date() }}
),

order_lines as (
    select * from {{ ref('fact_orders') }}
    where not is_cancelled
        and order_date > {{ add_days(-window_days, as_of_date()) }}
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
        {{ decimal_avg('stock_value_at_cost', 2) }} as avg_stock_value_at_cost,
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
        inventory.is_below_reorder_point
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

pairs as (
    select distinct
        both_sides.product_id,
        both_sides.warehouse_id
    from (
        select
            product_id,
            warehouse_id
        from stock
        union all
        select
            product_id,
            warehouse_id
        from sales
    ) as both_sides
),

joined as (
    select
        pairs.product_id,
        pairs.warehouse_id,
        coalesce(stock.days_observed, 0) as days_observed,
        coalesce(stock.stockout_days, 0) as stockout_days,
        coalesce(stock.below_reorder_point_days, 0) as below_reorder_point_days,
        stock.avg_quantity_on_hand,
        stock.avg_stock_value_at_cost,
        stock.period_start_date,
        stock.period_end_date,
        closing.closing_quantity_available,
        closing.closing_quantity_on_hand,
        closing.is_below_reorder_point,
        coalesce(sales.units_sold, 0) as units_sold,
        coalesce(sales.cogs_amount, 0) as cogs_amount,
        stock.product_id is not null as has_inventory_position
    from pairs
    left join stock
        on pairs.product_id = stock.product_id
            and pairs.warehouse_id = stock.warehouse_id
    left join closing
        on pairs.product_id = closing.product_id
            and pairs.warehouse_id = closing.warehouse_id
    left join sales
        on pairs.product_id = sales.product_id
            and pairs.warehouse_id = sales.warehouse_id
),

final as (
    select
        cast({{ surrogate_key(['product_id', 'warehouse_id']) }} as string) as inventory_turnover_key,
        product_id,
        warehouse_id,
        cast({{ window_days }} as bigint) as window_days,
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
        {{ ratio(safe_divide('units_sold * 365.0', 'avg_quantity_on_hand * ' ~ window_days)) }} as annualized_turnover,
        {{ ratio(safe_divide('avg_quantity_on_hand * ' ~ window_days, 'units_sold')) }} as days_of_inventory,
        {{ ratio(safe_divide('stockout_days', 'days_observed')) }} as stockout_rate,
        cast(has_inventory_position as bool) as has_inventory_position,
        cast(is_below_reorder_point as bool) as is_below_reorder_point,
        period_start_date,
        period_end_date
    from joined
)

select * from final
