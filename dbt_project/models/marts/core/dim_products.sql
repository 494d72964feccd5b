{# Product dimension (type 1: current attributes), with category, parent category, manufacturer and current list price. #}
with

products as (
    select * from {{ ref('stg_ops__products') }}
),

categories as (
    select * from {{ ref('stg_ops__categories') }}
),

suppliers as (
    select * from {{ ref('stg_ops__suppliers') }}
),

prices as (
    select * from {{ ref('stg_ops__pricing') }}
),

current_list_prices as (
    select
        ranked.product_id,
        ranked.price
    from (
        select
            prices.product_id,
            prices.price,
            row_number() over (
                partition by prices.product_id
                order by prices.effective_from desc, prices.price_id desc
            ) as price_rank
        from prices
        where prices.is_list_price
            and prices.effective_from <= {{ as_of_date() }}
            and (prices.effective_to is null or prices.effective_to > {{ as_of_date() }})
    ) as ranked
    where ranked.price_rank = 1
),

final as (
    select
        products.product_id,
        products.category_id,
        products.supplier_id,
        products.sku,
        products.product_name,
        products.product_description,
        categories.category_name,
        -- A top-level category is its own department; a subcategory reports under its parent.
        coalesce(parent_categories.category_name, categories.category_name) as department_name,
        suppliers.supplier_name as manufacturer_name,
        products.active_ingredient,
        products.dosage,
        products.package_size,
        products.anvisa_registration_code,
        products.status,
        products.unit_cost,
        current_list_prices.price as current_list_price,
        products.is_generic,
        products.is_deleted,
        products.created_at,
        products.updated_at,
        products.deleted_at
    from products
    left join categories
        on products.category_id = categories.category_id
    left join categories as parent_categories
        on categories.parent_category_id = parent_categories.category_id
    left join suppliers
        on products.supplier_id = suppliers.supplier_id
    left join current_list_prices
        on products.product_id = current_list_prices.product_id
)

select * from final
