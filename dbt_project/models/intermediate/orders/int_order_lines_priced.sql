{#
    Order lines with their order header, the customer version in force when the order was
    placed, and the list and tier prices in force on the order date. Orders and lines deleted
    in the source (hard deletes found by key reconciliation) are left out.

    "When the order was placed" is the order's created_at when it falls on the order date,
    otherwise (a back-dated order) the start of the order date.
    tier_price is the price for the customer's tier at that moment, falling back to the
    list price when the tier has no specific price (is_tier_priced says which).
#}
with
{{ order_lines_priced_ctes() }}

select * from priced_lines
