{#
    Demand-forecasting features (grain: product x warehouse x day), for the days of the last
    var('demand_features_days') up to var('as_of_date'), from the pair's first sale or stock
    observation on. Every feature of a day uses data of that day or earlier only: same-day
    figures (units, orders, prices paid, stock) describe the day; lags and rolling statistics
    look at the days before it (known when the day starts). The calendar is the exception by
    nature: holidays are known in advance, so days to the next holiday reads the calendar ahead.
#}
{%- set lead_in_days = 28 -%}
{%- set window_start = add_days(1 - (var('demand_features_days') | int), as_of_date()) -%}
{%- set history_start = add_days(1 - (var('demand_features_days') | int) - lead_in_days, as_of_date()) -%}
with

order_lines as (
    select * from {{ ref('fact_orders') }}
    where order_date <= {{ as_of_date() }}
        and not is_cancelled
),

snapshots as (
    select * from {{ ref('fact_inventory_snapshots') }}
    where snapshot_date <= {{ as_of_date() }}
),

prices as (
    select * from {{ ref('stg_ops__pricing') }}
    where is_list_price
),

dates as (
    select * from {{ ref('dim_date') }}
),

-- Holidays include the optional movable days (Carnaval, Corpus Christi): much trade stops.
holiday_calendar as (
    select
        date_day,
        day_of_week_iso,
        week_start_date,
        month_number,
        year_number,
        is_weekend,
        is_holiday,
        is_optional_holiday,
        holiday_name,
        min(case when is_holiday or is_optional_holiday then date_day end) over (
            order by date_day rows between current row and unbounded following
        ) as next_holiday_date,
        max(case when is_holiday or is_optional_holiday then date_day end) over (
            order by date_day rows between unbounded preceding and current row
        ) as last_holiday_date
    from dates
),

days as (
    select * from holiday_calendar
    where date_day >= {{ history_start }}
        and date_day <= {{ as_of_date() }}
),

first_activity as (
    select
        product_id,
        warehouse_id,
        min(first_date) as first_activity_date
    from (
        select
            product_id,
            warehouse_id,
            min(order_date) as first_date
        from order_lines
        group by product_id, warehouse_id
        union all
        select
            product_id,
            warehouse_id,
            min(snapshot_date) as first_date
        from snapshots
        group by product_id, warehouse_id
    ) as firsts
    group by product_id, warehouse_id
),

daily_sales as (
    select
        product_id,
        warehouse_id,
        order_date as date_day,
        sum(quantity) as units_sold,
        count(distinct order_id) as orders_count,
        count(distinct customer_id) as customers_count,
        sum(gross_amount) as gross_amount,
        sum(discount_amount) as discount_amount
    from order_lines
    where order_date >= {{ history_start }}
    group by product_id, warehouse_id, order_date
),

-- Every day of the history for every pair: days before a pair's first activity sold nothing.
spine as (
    select
        first_activity.product_id,
        first_activity.warehouse_id,
        first_activity.first_activity_date,
        days.date_day
    from first_activity
    cross join days
),

daily as (
    select
        spine.product_id,
        spine.warehouse_id,
        spine.first_activity_date,
        spine.date_day,
        coalesce(daily_sales.units_sold, 0) as units_sold,
        coalesce(daily_sales.orders_count, 0) as orders_count,
        coalesce(daily_sales.customers_count, 0) as customers_count,
        daily_sales.gross_amount,
        daily_sales.discount_amount
    from spine
    left join daily_sales
        on spine.product_id = daily_sales.product_id
            and spine.warehouse_id = daily_sales.warehouse_id
            and spine.date_day = daily_sales.date_day
),

with_history as (
    select
        daily.*,
        coalesce(lag(daily.units_sold, 1) over pair_days, 0) as units_lag_1,
        coalesce(lag(daily.units_sold, 7) over pair_days, 0) as units_lag_7,
        coalesce(lag(daily.units_sold, 14) over pair_days, 0) as units_lag_14,
        coalesce(lag(daily.units_sold, 28) over pair_days, 0) as units_lag_28,
        avg(cast(daily.units_sold as {{ type_double() }})) over (
            pair_days rows between 7 preceding and 1 preceding
        ) as units_mean_7d,
        stddev_samp(cast(daily.units_sold as {{ type_double() }})) over (
            pair_days rows between 7 preceding and 1 preceding
        ) as units_stddev_7d,
        avg(cast(daily.units_sold as {{ type_double() }})) over (
            pair_days rows between 28 preceding and 1 preceding
        ) as units_mean_28d,
        stddev_samp(cast(daily.units_sold as {{ type_double() }})) over (
            pair_days rows between 28 preceding and 1 preceding
        ) as units_stddev_28d
    from daily
    window pair_days as (partition by daily.product_id, daily.warehouse_id order by daily.date_day)
),

-- The list price in force on the day; overlapping entries resolve to the newest.
list_prices as (
    select
        ranked.product_id,
        ranked.date_day,
        ranked.price
    from (
        select
            prices.product_id,
            days.date_day,
            prices.price,
            row_number() over (
                partition by prices.product_id, days.date_day
                order by prices.effective_from desc, prices.price_id desc
            ) as price_rank
        from prices
        inner join days
            on prices.effective_from <= days.date_day
                and (prices.effective_to is null or prices.effective_to > days.date_day)
        where days.date_day >= {{ window_start }}
    ) as ranked
    where ranked.price_rank = 1
),

final as (
    select
        {{ surrogate_key(['with_history.product_id', 'with_history.warehouse_id', 'with_history.date_day']) }} as demand_feature_key,
        with_history.product_id,
        with_history.warehouse_id,
        days.holiday_name,
        cast(with_history.units_sold as bigint) as units_sold,
        cast(with_history.orders_count as bigint) as orders_count,
        cast(with_history.customers_count as bigint) as customers_count,
        cast(snapshots.quantity_available as bigint) as quantity_available,
        cast(days.day_of_week_iso as bigint) as day_of_week_iso,
        cast(days.month_number as bigint) as month_number,
        cast(days.year_number as bigint) as year_number,
        cast({{ dbt.datediff('days.date_day', 'days.next_holiday_date', 'day') }} as bigint) as days_to_next_holiday,
        cast({{ dbt.datediff('days.last_holiday_date', 'days.date_day', 'day') }} as bigint) as days_since_last_holiday,
        cast(with_history.units_lag_1 as bigint) as units_lag_1,
        cast(with_history.units_lag_7 as bigint) as units_lag_7,
        cast(with_history.units_lag_14 as bigint) as units_lag_14,
        cast(with_history.units_lag_28 as bigint) as units_lag_28,
        list_prices.price as list_price,
        -- Half-up on integer cents: DuckDB divides decimals in floating point (9.915 would
        -- round down), BigQuery exactly; integers make both exact.
        case
            when with_history.units_sold > 0
                then {{ money(
                    'cast(' ~ int_div(
                        'cast(round(with_history.gross_amount * 100) as bigint) * 2 + with_history.units_sold',
                        '(2 * with_history.units_sold)'
                    ) ~ ' as decimal(18,2)) / 100'
                ) }}
        end as avg_price_paid,
        {{ ratio(safe_divide('with_history.discount_amount', 'with_history.gross_amount')) }} as discount_share,
        {{ ratio('with_history.units_mean_7d') }} as units_mean_7d,
        {{ ratio('with_history.units_stddev_7d') }} as units_stddev_7d,
        {{ ratio('with_history.units_mean_28d') }} as units_mean_28d,
        {{ ratio('with_history.units_stddev_28d') }} as units_stddev_28d,
        snapshots.is_out_of_stock,
        days.is_weekend,
        days.is_holiday,
        days.is_optional_holiday,
        with_history.date_day,
        days.week_start_date,
        {{ as_of_date() }} as as_of_date
    from with_history
    inner join days
        on with_history.date_day = days.date_day
    left join snapshots
        on with_history.product_id = snapshots.product_id
            and with_history.warehouse_id = snapshots.warehouse_id
            and with_history.date_day = snapshots.snapshot_date
    left join list_prices
        on with_history.product_id = list_prices.product_id
            and with_history.date_day = list_prices.date_day
    where with_history.date_day >= {{ window_start }}
        and with_history.date_day >= with_history.first_activity_date
)

select * from final
