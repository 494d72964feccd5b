{#
    Calendar: one row per day from 1 January of the earliest year in the data to
    31 December of the later of the as-of date and the latest data date. Every attribute is
    computed from day counts and month numbers, never from an engine's week-start
    convention, so DuckDB and BigQuery agree. Easter Sunday, from which Brazil's movable dates
    follow, is computed per year with the anonymous Gregorian algorithm (Meeus/Jones/Butcher) in
    integer arithmetic, and its day is looked up in the spine (no engine-specific date builder).
#}
with

orders as (
    select * from {{ ref('stg_ops__orders') }}
),

customers as (
    select * from {{ ref('stg_ops__customers') }}
),

interactions as (
    select * from {{ ref('stg_ops__customer_interactions') }}
),

data_dates as (
    select
        min(order_date) as min_date,
        max(order_date) as max_date
    from orders
    union all
    select
        min(cast(created_at as date)) as min_date,
        max(cast(created_at as date)) as max_date
    from customers
    union all
    select
        min(interaction_date) as min_date,
        max(interaction_date) as max_date
    from interactions
    union all
    select
        {{ add_days('-' ~ (var('inventory_snapshot_days', 90) | int), as_of_date()) }} as min_date,
        {{ as_of_date() }} as max_date
),

bounds as (
    select
        cast({{ dbt.date_trunc('year', 'min(min_date)') }} as date) as start_date,
        {{ add_days(-1, dbt.dateadd('year', 1, dbt.date_trunc('year', 'max(max_date)'))) }} as end_date
    from data_dates
),

spine as (
    select
        {{ add_days('offsets.day_offset', 'bounds.start_date') }} as date_day
    from ({{ day_offsets(var('dim_date_max_days', 11000)) }}) as offsets
    cross join bounds
    where offsets.day_offset <= {{ dbt.datediff('bounds.start_date', 'bounds.end_date', 'day') }}
),

attributes as (
    select
        date_day,
        cast(extract(year from date_day) as bigint) as year_number,
        cast(extract(quarter from date_day) as bigint) as quarter_number,
        cast(extract(month from date_day) as bigint) as month_number,
        cast(extract(day from date_day) as bigint) as day_of_month,
        cast({{ iso_day_of_week('date_day') }} as bigint) as day_of_week_iso
    from spine
),

-- Easter Sunday per year: the anonymous Gregorian algorithm, one step per CTE.
easter_years as (
    select distinct
        year_number as y,
        mod(year_number, 19) as a,
        {{ int_div('year_number', 100) }} as b,
        mod(year_number, 100) as c
    from attributes
),

easter_terms as (
    select
        y,
        a,
        b,
        {{ int_div('b', 4) }} as d,
        mod(b, 4) as e,
        {{ int_div('b - ' ~ int_div('b + 8', 25) ~ ' + 1', 3) }} as g,
        {{ int_div('c', 4) }} as i,
        mod(c, 4) as k
    from easter_years
),

easter_h as (
    select
        easter_terms.*,
        mod(19 * easter_terms.a + easter_terms.b - easter_terms.d - easter_terms.g + 15, 30) as h
    from easter_terms
),

easter_l as (
    select
        easter_h.*,
        mod(32 + 2 * easter_h.e + 2 * easter_h.i - easter_h.h - easter_h.k, 7) as l
    from easter_h
),

easter_month_day as (
    select
        y as year_number,
        {{ int_div('h + l - 7 * ' ~ int_div('a + 11 * h + 22 * l', 451) ~ ' + 114', 31) }} as easter_month,
        mod(h + l - 7 * {{ int_div('a + 11 * h + 22 * l', 451) }} + 114, 31) + 1 as easter_day
    from easter_l
),

easter as (
    select
        attributes.year_number,
        attributes.date_day as easter_date
    from attributes
    inner join easter_month_day
        on attributes.year_number = easter_month_day.year_number
            and attributes.month_number = easter_month_day.easter_month
            and attributes.day_of_month = easter_month_day.easter_day
),

holidays as (
    select
        attributes.*,
        {{ brazil_fixed_holiday_name('attributes.month_number', 'attributes.day_of_month', 'attributes.year_number') }} as fixed_holiday_name,
        {{ brazil_movable_date_name(dbt.datediff('easter.easter_date', 'attributes.date_day', 'day')) }} as movable_date_name,
        {{ dbt.datediff('easter.easter_date', 'attributes.date_day', 'day') }} as days_from_easter
    from attributes
    left join easter
        on attributes.year_number = easter.year_number
),

final as (
    select
        date_day,
        year_number,
        quarter_number,
        month_number,
        day_of_month,
        day_of_week_iso,
        cast({{ month_name('month_number') }} as string) as month_name,
        cast(case day_of_week_iso
            when 1 then 'Monday'
            when 2 then 'Tuesday'
            when 3 then 'Wednesday'
            when 4 then 'Thursday'
            when 5 then 'Friday'
            when 6 then 'Saturday'
            when 7 then 'Sunday'
        end as string) as day_name,
        cast(
            cast(year_number as string) || '-Q' || cast(quarter_number as string)
            as string
        ) as year_quarter,
        cast(
            cast(year_number as string) || '-' || case when month_number < 10 then '0' else '' end
            || cast(month_number as string)
            as string
        ) as year_month,
        cast(day_of_week_iso >= 6 as bool) as is_weekend,
        cast(coalesce(fixed_holiday_name, movable_date_name) as string) as holiday_name,
        cast(
            {{ is_brazil_fixed_holiday('month_number', 'day_of_month', 'year_number') }}
            or days_from_easter = -2
            as bool
        ) as is_holiday,
        cast(days_from_easter in (-48, -47, 60) as bool) as is_optional_holiday,
        {{ add_days('-(day_of_week_iso - 1)', 'date_day') }} as week_start_date,
        {{ add_days('-(day_of_month - 1)', 'date_day') }} as month_start_date,
        cast(date_day <= {{ as_of_date() }} as bool) as is_past_or_today
    from holidays
)

select * from final
