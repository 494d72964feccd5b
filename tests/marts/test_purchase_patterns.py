"""purchase_patterns, order_baskets and co_purchased_products recomputed from the source.

Plain SQL on the operational SQLite file of the package's tiny demo build (tests/marts/conftest.py);
medians, dates and pair counts in Python.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from decimal import Decimal
from itertools import combinations, pairwise

import numpy as np
import pytest

from orchestration.demo.generator.rhythm import reorder_days, staple_products
from tests.marts.built import Built, close, rows
from tests.marts.test_marts_recomputed_from_source import AS_OF
from tests.pipeline.conftest import AS_OF_DATE

pytestmark = pytest.mark.slow

MIN_ORDERS = 2  # var('co_purchase_min_orders')

SOURCE_PURCHASES = """
select o.customer_id, i.product_id, o.order_date, sum(i.quantity)
from order_items i join orders o on o.id = i.order_id
where o.status <> 'cancelled' and o.order_date <= ?
group by o.customer_id, i.product_id, o.order_date
"""
SOURCE_BASKETS = """
select o.id, o.customer_id, o.warehouse_id, count(distinct i.product_id), count(*), sum(i.quantity),
    sum(round(i.quantity * i.unit_price, 2) - i.discount), o.order_date
from orders o join order_items i on i.order_id = o.id
where o.status <> 'cancelled' and o.order_date <= ?
group by o.id, o.customer_id, o.warehouse_id, o.order_date
"""
SOURCE_ORDER_PRODUCTS = """
select distinct i.order_id, i.product_id, p.category_id
from order_items i join orders o on o.id = i.order_id join products p on p.id = i.product_id
where o.status <> 'cancelled' and o.order_date <= ?
"""


def day(value: str) -> dt.date:
    return dt.date.fromisoformat(value[:10])


def test_purchase_patterns_recomputed_from_source(built: Built) -> None:
    history: dict[tuple[int, int], list[tuple[dt.date, int]]] = {}
    with built.source() as src:
        for customer, product, order_date, units in rows(src, SOURCE_PURCHASES, (AS_OF_DATE,)):
            history.setdefault((customer, product), []).append((day(order_date), units))
    expected = {}
    for pair, purchases in history.items():
        dates = sorted(d for d, _ in purchases)
        gaps = [(b - a).days for a, b in pairwise(dates)]
        median = statistics.median(gaps) if gaps else None
        upcoming = dates[-1] + dt.timedelta(days=int(median + 0.5)) if gaps else None
        expected[pair] = (
            len(dates), sum(u for _, u in purchases), (AS_OF - upcoming).days if upcoming else None,
            median, upcoming is not None and upcoming < AS_OF, dates[0], dates[-1], upcoming,
        )  # fmt: skip
    with built.marts() as con:
        mart = {
            (r[0], r[1]): r[2:]
            for r in rows(
                con,
                "select customer_id, product_id, purchases_count, units_bought, days_overdue, "
                "median_days_between_purchases, is_overdue, first_purchase_date, last_purchase_date, "
                "next_expected_purchase_date from marts.purchase_patterns",
            )
        }
    assert set(mart) == set(expected)
    assert sum(1 for e in expected.values() if e[0] >= 3) >= 20 and any(e[4] for e in expected.values())
    for pair, row in mart.items():
        want = expected[pair]
        assert close(row[3], want[3]), pair
        assert row[:3] + row[4:] == want[:3] + want[4:], (pair, row, want)


def test_order_baskets_recomputed_from_source(built: Built) -> None:
    with built.source() as src:
        expected = {
            r[0]: (*r[1:6], round(Decimal(str(r[6])), 2), day(r[7]))
            for r in rows(src, SOURCE_BASKETS, (AS_OF_DATE,))
        }
    with built.marts() as con:
        mart = {
            r[0]: r[1:]
            for r in rows(
                con,
                "select order_id, customer_id, warehouse_id, products_count, lines_count, units, net_revenue, "
                "order_date from marts.order_baskets",
            )
        }
    assert mart == expected


def test_co_purchased_products_recomputed_from_source(built: Built) -> None:
    with built.source() as src:
        lines = rows(src, SOURCE_ORDER_PRODUCTS, (AS_OF_DATE,))
    baskets: dict[int, set[tuple[int, int]]] = {}
    for order, product, category in lines:
        baskets.setdefault(order, set()).add((category, product))
    with_product = Counter(product for basket in baskets.values() for _, product in basket)
    together = Counter(
        (category, a, b)
        for basket in baskets.values()
        for (category, a), (other, b) in combinations(sorted(basket, key=lambda cp: cp[1]), 2)
        if category == other
    )
    total = len(baskets)
    expected = {
        (a, b): (category, n, with_product[a], with_product[b], total, n / total, n / with_product[a],
                 n * total / (with_product[a] * with_product[b]))
        for (category, a, b), n in together.items()
        if n >= MIN_ORDERS
    }  # fmt: skip
    with built.marts() as con:
        mart = {
            (r[0], r[1]): r[2:]
            for r in rows(
                con,
                "select product_a_id, product_b_id, category_id, orders_with_both, orders_with_a, orders_with_b, "
                "orders_total, support, confidence_a_to_b, lift from marts.co_purchased_products",
            )
        }
    assert len(expected) >= 20 and set(mart) == set(expected)
    for pair, row in mart.items():
        want = expected[pair]
        assert row[:5] == want[:5], pair
        for got, exp in zip(row[5:], want[5:], strict=True):
            assert close(got, exp, 1e-4), (pair, got, exp)


def test_purchase_patterns_recover_each_customers_reorder_cycle(built: Built) -> None:
    """The generator has each pharmacy reorder its two staples every ``reorder_days(id)`` days
    (orchestration/demo/generator/rhythm.py: a slot may slip a day, or move off a closed day);
    the mart's median days between purchases of a staple lands on that cycle."""
    with built.source() as src:
        products = rows(src, "select id, status from products order by id")
        customers = [c for (c,) in rows(src, "select id from customers order by id")]
    staples = staple_products(np.array(customers), np.array([status == "active" for _, status in products]))
    cycles = reorder_days(np.array(customers))
    product_ids = [pid for pid, _ in products]
    with built.marts() as con:
        mart = {
            (customer, product): (count, median)
            for customer, product, count, median in rows(
                con,
                "select customer_id, product_id, purchases_count, median_days_between_purchases "
                "from marts.purchase_patterns",
            )
        }
    errors = []
    for customer, own, cycle in zip(customers, staples.tolist(), cycles.tolist(), strict=True):
        for position in (p for p in own if p >= 0):
            count, median = mart.get((customer, product_ids[position]), (0, None))
            if count >= 4:  # three gaps or more
                errors.append(float(median) - cycle)
    assert len(errors) >= 40, errors
    assert statistics.median(errors) == 0, errors
    assert sum(abs(e) <= 1.5 for e in errors) >= 0.8 * len(errors), errors
