"""Each pharmacy reorders its staples on its own cycle (rhythm.py), in the seeded history and
across the clock's steps: every order carrying a staple falls on one of the customer's slot
days, none twice, and few slots go without one.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import date, datetime
from itertools import pairwise

import numpy as np
import sqlalchemy as sa

from orchestration.demo.generator import Scale, advance, generate
from orchestration.demo.generator.common import date_to_day
from orchestration.demo.generator.rhythm import regular_order_days, reorder_days, staple_products

END = datetime(2025, 6, 15, 14, 0, 0)

STAPLE_ORDERS = """
select o.customer_id, i.product_id, o.order_date, o.id
from orders o join order_items i on i.order_id = o.id
"""


def _staples(url: str) -> dict[int, set[int]]:
    """Each customer's staple product ids, from rhythm.py's fixed function over the catalogue."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            products = conn.execute(sa.text("select id, status from products order by id")).all()
            customers = [r[0] for r in conn.execute(sa.text("select id from customers order by id"))]
    finally:
        engine.dispose()
    staples = staple_products(np.array(customers), np.array([status == "active" for _, status in products]))
    product_ids = np.array([pid for pid, _ in products])
    return {c: set(product_ids[s[s >= 0]].tolist()) for c, s in zip(customers, staples, strict=True)}


def _staple_days(
    url: str, staples: dict[int, set[int]], since: date | None = None
) -> tuple[dict[int, dict[date, set[int]]], dict[int, int]]:
    """Per customer, the days it bought one of its staples (with the orders), and its cycle."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            lines = conn.execute(sa.text(STAPLE_ORDERS)).all()
    finally:
        engine.dispose()
    bought: dict[int, dict[date, set[int]]] = defaultdict(lambda: defaultdict(set))
    for customer, product, order_date, order_id in lines:
        day = order_date if isinstance(order_date, date) else date.fromisoformat(str(order_date)[:10])
        if product in staples.get(customer, ()) and (since is None or day >= since):
            bought[customer][day].add(order_id)
    ids = sorted(staples)
    return bought, dict(zip(ids, reorder_days(np.array(ids)).tolist(), strict=True))


def _slot_days(customers: list[int], first: date, end: date) -> dict[int, set[date]]:
    pos, days = regular_order_days(
        np.array(customers),
        np.full(len(customers), date_to_day(first)),
        np.full(len(customers), date_to_day(end)),
    )
    slots: dict[int, set[date]] = defaultdict(set)
    for p, d in zip(pos.tolist(), days.tolist(), strict=True):
        slots[customers[p]].add(date.fromordinal(date(1970, 1, 1).toordinal() + d))
    return slots


def test_seeded_customers_buy_their_staples_on_their_cycle(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    generate(url, Scale.tiny(), seed=42, end=END)
    bought, cycles = _staple_days(url, _staples(url))
    slots = _slot_days(list(cycles), date(2024, 1, 1), END.date())
    assert sum(len(days) for days in bought.values()) > 250, "the history holds regular orders"
    for customer, days in bought.items():
        assert set(days) <= slots[customer], (customer, sorted(set(days) - slots[customer]))
        assert all(len(orders) == 1 for orders in days.values()), customer  # one regular order a slot
    # The days between staple purchases are the cycle, give or take a slip or a closed day.
    errors = [
        statistics.median(b.toordinal() - a.toordinal() for a, b in pairwise(sorted(days))) - cycles[customer]
        for customer, days in bought.items()
        if len(days) >= 4
    ]
    assert len(errors) >= 25
    assert statistics.median(errors) == 0
    assert sum(abs(e) <= 1.5 for e in errors) >= 0.8 * len(errors), errors


def test_advancing_keeps_each_rhythm_across_steps(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    generate(url, Scale.tiny(), seed=42, end=END)
    before = _staples(url)
    for step in range(4):
        advance(url, days=7, seed=step)
    # Customers whose staple was discontinued on the way changed staples: left out.
    after = _staples(url)
    staples = {c: s for c, s in before.items() if after[c] == s}
    assert len(staples) >= 0.8 * len(before)
    first, last = date(2025, 6, 16), date(2025, 7, 12)  # whole days inside the four steps
    bought, cycles = _staple_days(url, staples, since=first)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            active = [
                r[0]
                for r in conn.execute(
                    sa.text(
                        "select id from customers where status = 'active' and deleted_at is null "
                        f"and created_at < '{END:%Y-%m-%d %H:%M:%S}' order by id"
                    )
                )
            ]
    finally:
        engine.dispose()
    slots = {c: {d for d in days if d < last} for c, days in _slot_days(list(cycles), first, last).items()}
    for customer, days in bought.items():
        inside = {d for d in days if d < last}
        assert inside <= slots[customer], (customer, sorted(inside - slots[customer]))
        assert all(len(orders) == 1 for orders in days.values()), customer  # no slot twice
    expected = [(c, d) for c in active if c in staples for d in slots.get(c, ())]
    met = [(c, d) for c, d in expected if d in bought.get(c, {})]
    assert len(expected) >= 60
    # A regular order misses both staples one time in 44 (0.15 ** 2).
    assert len(met) >= 0.9 * len(expected), sorted(set(expected) - set(met))[:10]
