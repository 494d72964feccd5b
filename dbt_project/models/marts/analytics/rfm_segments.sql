{#
    RFM segmentation of customers with at least one non-cancelled order, as of var('as_of_date').
    Each of recency, frequency and monetary value is scored 1-5 by quintile (ntile(5)); 5 is
    best (most recent, most orders, most revenue). Ties are broken by customer_id so that the
    scores are deterministic on every engine. Segments follow the usual R x F grid, checked in
    this order:
      champions            R >= 4, F >= 4, M >= 4
      loyal                R >= 3, F >= 4
      new_customers        R >= 4, F = 1
      potential_loyalists  R >= 4 (F 2-3, or F >= 4 with M <= 3)
      cant_lose_them       R <= 2, F >= 4
      at_risk              R <= 2, F = 3
      hibernating          R <= 2, F <= 2
      needs_attention      everything else (R = 3, F <= 3)
#}
with

order_stats as (
    select * from {{ ref('int_customer_order_stats') }}
    where total_orders > 0
),

base as (
    select
        customer_id,
        {{ dbt.datediff('last_order_date', as_of_date(), 'day') }} as recency_days,
        total_orders as frequency,
        total_revenue as monetary
    from order_stats
),

scored as (
    select
        base.*,
        ntile(5) over (order by base.recency_days desc, base.customer_id asc) as recency_score,
        ntile(5) over (order by base.frequency, base.customer_id) as frequency_score,
        ntile(5) over (order by base.monetary, base.customer_id) as monetary_score
    from base
),

segmented as (
    select
        scored.*,
        case
            when scored.recency_score >= 4 and scored.frequency_score >= 4 and scored.monetary_score >= 4 then 'champions'
            when scored.recency_score >= 3 and scored.frequency_score >= 4 then 'loyal'
            when scored.recency_score >= 4 and scored.frequency_score = 1 then 'new_customers'
            when scored.recency_score >= 4 then 'potential_loyalists'
            when scored.recency_score <= 2 and scored.frequency_score >= 4 then 'cant_lose_them'
            when scored.recency_score <= 2 and scored.frequency_score = 3 then 'at_risk'
            when scored.recency_score <= 2 then 'hibernating'
            else 'needs_attention'
        end as rfm_segment
    from scored
),

final as (
    select
        customer_id,
        cast(recency_days as bigint) as recency_days,
        cast(frequency as bigint) as frequency,
        {{ money('monetary') }} as monetary,
        cast(recency_score as bigint) as recency_score,
        cast(frequency_score as bigint) as frequency_score,
        cast(monetary_score as bigint) as monetary_score,
        cast(
            cast(recency_score as string) || cast(frequency_score as string) || cast(monetary_score as string)
            as string
        ) as rfm_score,
        cast(recency_score + frequency_score + monetary_score as bigint) as rfm_total_score,
        cast(rfm_segment as string) as rfm_segment,
        {{ as_of_date() }} as as_of_date
    from segmented
)

select * from final
