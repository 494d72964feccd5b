"""What the marts recover of the demo generator's known parameters, for the demo's summary.

The generator gives each product a price elasticity, each pharmacy a reorder cycle for its
staples, each order stage a duration and each holiday a weight (orchestration/demo/generator);
the new analytics marts should find them again. Tests hold them to tolerances
(tests/marts/test_price_elasticity_recovers_generator.py, test_purchase_patterns.py,
test_order_fulfilment_recomputed.py, test_demand_features.py); this prints the same
comparisons on whatever the demo built, DuckDB or BigQuery, through the warehouse's SQL layer.
"""

from __future__ import annotations

import datetime as dt
import statistics

import numpy as np

from orchestration.demo.generator.common import HOLIDAY_WEIGHT, product_elasticity
from orchestration.demo.generator.rhythm import (
    REORDER_DAYS_MAX,
    REORDER_DAYS_MIN,
    reorder_days,
    staple_products,
)
from orchestration.demo.generator.rows import stage_times
from orchestration.warehouse.sql import WarehouseSql

MARTS = "marts"
SIGNAL_MARTS = frozenset(
    {
        "price_elasticity",
        "dim_products",
        "dim_customers",
        "dim_warehouses",
        "purchase_patterns",
        "order_fulfilment",
        "fact_orders",
        "demand_features",
    }
)
MIN_PURCHASES = 4  # three gaps or more
SETTLED_DAYS = 20  # orders placed this long before the last one have all been delivered


def signal_lines(sql: WarehouseSql) -> list[str]:
    """One line per mart: what it estimates against what the generator used."""

    def rel(table: str) -> str:
        return sql.relation(MARTS, table)

    title = "Signal recovered (each mart against the generator's parameters)"
    lines = ["", title, "-" * len(title)]
    lines.append(
        _elasticity(
            sql.rows(f"select product_id, price_elasticity from {rel('price_elasticity')} where is_confident")
        )
    )
    products = sql.rows(f"select product_id, status from {rel('dim_products')} order by product_id")
    customers = [
        r[0]
        for r in sql.rows(f"select distinct customer_id from {rel('dim_customers')} order by customer_id")
    ]
    patterns = sql.rows(
        f"select customer_id, product_id, median_days_between_purchases from {rel('purchase_patterns')} "
        f"where purchases_count >= {MIN_PURCHASES}"
    )
    lines.append(_rhythm(products, customers, patterns))
    # Orders paid by pix or card record their delivery when it happens (their payment came at
    # confirmation); orders placed in the last SETTLED_DAYS are left out, as not all of them
    # have been delivered yet.
    delivered = sql.rows(
        f"select f.placed_at, f.days_to_delivery, f.region <> w.region from {rel('order_fulfilment')} f "
        f"join {rel('dim_warehouses')} w on w.warehouse_id = f.warehouse_id "
        f"where f.is_delivered and f.order_id in (select order_id from {rel('fact_orders')} "
        "where payment_method in ('pix', 'credit_card'))"
    )
    lines.append(_delivery(delivered))
    days = sql.rows(
        f"select date_day, max(case when is_holiday then 1 else 0 end), sum(orders_count) "
        f"from {rel('demand_features')} where day_of_week_iso <= 5 group by date_day"
    )
    lines.append(_holidays(days))
    return lines


def _elasticity(rows: list[tuple]) -> str:
    if not rows:
        return "  price_elasticity: no confident estimate"
    errors = [abs(float(slope) - float(product_elasticity(np.array([pid]))[0])) for pid, slope in rows]
    return (
        f"  price_elasticity: {len(rows):,} confident products, median |estimate - generated| "
        f"{statistics.median(errors):.2f} (generated -2.0 to -0.4)"
    )


def _rhythm(products: list[tuple], customers: list[int], patterns: list[tuple]) -> str:
    if not products or not customers:
        return "  purchase_patterns: no customers"
    staples = staple_products(np.array(customers), np.array([status == "active" for _, status in products]))
    cycles = reorder_days(np.array(customers))
    product_ids = [pid for pid, _ in products]
    median_gap = {(c, p): m for c, p, m in patterns}
    errors = [
        float(median_gap[(customer, product_ids[pos])]) - cycle
        for customer, own, cycle in zip(customers, staples.tolist(), cycles.tolist(), strict=True)
        for pos in own
        if pos >= 0 and (customer, product_ids[pos]) in median_gap
    ]
    if not errors:
        return "  purchase_patterns: no staple bought four times yet"
    within = sum(abs(e) <= 1.5 for e in errors) / len(errors)
    return (
        f"  purchase_patterns: {len(errors):,} customer x staple pairs, {within:.0%} within 1.5 days of "
        f"the customer's reorder cycle ({REORDER_DAYS_MIN}-{REORDER_DAYS_MAX} days)"
    )


def _delivery(rows: list[tuple]) -> str:
    if not rows:
        return "  order_fulfilment: no order delivered"
    settled = max(placed for placed, _, _ in rows) - dt.timedelta(days=SETTLED_DAYS)
    parts = []
    for is_far, label in ((False, "in region"), (True, "across regions")):
        observed = [float(d) for placed, d, far in rows if bool(far) == is_far and placed <= settled]
        if not observed:
            continue
        generated = stage_times(
            np.random.default_rng(0), np.zeros(100_000, dtype=np.int64), np.full(100_000, is_far)
        )
        parts.append(
            f"{label} {statistics.median(observed):.2f} (generated {np.median(generated[:, 3]) / 86_400:.2f}, "
            f"{len(observed):,} orders)"
        )
    return "  order_fulfilment: median days to delivery " + ("; ".join(parts) or "none settled")


def _holidays(rows: list[tuple]) -> str:
    holidays = [float(n) for _, h, n in rows if h]
    ordinary = [float(n) for _, h, n in rows if not h]
    if not holidays or not ordinary:
        return "  demand_features: no weekday holiday in the window"
    return (
        "  demand_features: orders on a weekday holiday "
        f"{statistics.fmean(holidays) / statistics.fmean(ordinary):.2f} of an ordinary weekday's "
        f"(generated: ad-hoc orders at {HOLIDAY_WEIGHT}, regular ones moved to the day before; "
        f"{len(holidays)} holidays)"
    )
