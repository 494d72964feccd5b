{#
    Repeat-purchase rhythm per customer x product (grain: pairs with a non-cancelled purchase up to
    var('as_of_date')). A purchase is a distinct order date with the product; the gaps are the
    days between successive purchases. The median gap (the middle one, or the mean of the two
    middle ones) sets the next expected purchase date = last purchase + median gap, rounded half
    up to a day; the pair is overdue when the as-of date is past it.
#}
with

order_lines as (
    select * from {{ ref('fact_orders') }}
    where order_date <= {{ as_of_date() }}
        and not is_cancelled
),

purchases as (
    select
        customer_id,
        product_id,
        order_date,
        sum(quantity) as units
    from order_lines
    group by customer_id, product_id, order_date
),

gaps as (
    select
        customer_id,
        product_id,
        {{ dbt.datediff(
            'lag(order_date) over (partition by customer_id, product_id order by order_date)',
            'order_date',
            'day'
        ) }} as gap_days
    from purchases
),

ranked_gaps as (
    select
        customer_id,
        product_id,
        gap_days,
        row_number() over (partition by customer_id, product_id order by gap_days) as gap_rank,
        count(*) over (partition by customer_id, product_id) as gap_count
    from gaps
    where gap_days is not null
),

median_gaps as (
    select
        customer_id,
        product_id,
        max(gap_count) as gap_count,
        avg(cast(gap_days as decimal(18, 4))) as median_gap_days
    from ranked_gaps
    where gap_rank in ({{ int_div('gap_count + 1', 2) }}, {{ int_div('gap_count + 2', 2) }})
    group by customer_id, product_id
),

summary as (
    select
        customer_id,
        product_id,
        count(*) as purchases_count,
        sum(units) as units_bought,
        min(order_date) as first_purchase_date,
        max(order_date) as last_purchase_date
    from purchases
    group by customer_id, product_id
),

joined as (
    select
        summary.customer_id,
        summary.product_id,
        summary.purchases_count,
        summary.units_bought,
        summary.first_purchase_date,
        summary.last_purchase_date,
        median_gaps.median_gap_days,
        case
            when median_gaps.median_gap_days is not null
                then {{ add_days('cast(floor(median_gaps.median_gap_days + 0.5) as bigint)', 'summary.last_purchase_date') }}
        end as next_expected_purchase_date
    from summary
    left join median_gaps
        on summary.customer_id = median_gaps.customer_id
            and summary.product_id = median_gaps.product_id
),

final as (
    select
        {{ surrogate_key(['customer_id', 'product_id']) }} as purchase_pattern_key,
        customer_id,
        product_id,
        cast(purchases_count as bigint) as purchases_count,
        cast(units_bought as bigint) as units_bought,
        cast({{ dbt.datediff('next_expected_purchase_date', as_of_date(), 'day') }} as bigint) as days_overdue,
        {{ ratio('median_gap_days') }} as median_days_between_purchases,
        coalesce(next_expected_purchase_date < {{ as_of_date() }}, false) as is_overdue,
        first_purchase_date,
        last_purchase_date,
        next_expected_purchase_date,
        {{ as_of_date() }} as as_of_date
    from joined
)

select * from final
