"""The live system's state as the demo clock finds it: customers, products and their activity."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
import sqlalchemy as sa

from orchestration.demo import schema
from orchestration.demo.generator.bulk import BulkWriter
from orchestration.demo.generator.common import DAY, TIERS, Customers, to_dt, to_s, window_mass
from orchestration.demo.generator.rhythm import staple_products
from orchestration.demo.generator.rows import warehouse_for_states


def to_cents(value: Any) -> int:
    return int((Decimal(str(value)) * 100).to_integral_value())


class LiveState:
    """What one step of the live system reads before it changes anything, and how it writes."""

    def __init__(self, conn: sa.Connection, seed: int, previous: datetime, days: int) -> None:
        self.conn = conn
        self.lo_s = to_s(previous)
        self.hi_s = self.lo_s + days * DAY
        self.days = days
        self.rng = np.random.default_rng([seed, self.lo_s, days])
        self.writer = BulkWriter(conn, tune_sqlite=False)
        self.inserted: dict[str, list[int]] = {}
        self.updated: dict[str, list[int]] = {}

    # reading ---------------------------------------------------------------

    def _all(self, stmt: sa.Executable) -> list[sa.Row]:
        return list(self.conn.execute(stmt))

    def _next_id(self, table: sa.Table) -> int:
        return (self.conn.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0) + 1

    def _count_since(self, column: sa.Column, since_s: int) -> int:
        stmt = sa.select(sa.func.count()).where(column > to_dt(since_s))
        return int(self.conn.execute(stmt).scalar() or 0)

    def _expected(self, column: sa.Column) -> float:
        """Rows expected in the new window at the rate of the last 28 days."""
        lookback = 28 * DAY
        _, recent = window_mass(self.lo_s - lookback, self.lo_s)
        _, ahead = window_mass(self.lo_s, self.hi_s)
        return self._count_since(column, self.lo_s - lookback) / max(recent[-1], 1e-9) * ahead[-1]

    def _random_times(self, n: int) -> np.ndarray:
        return (
            self.lo_s
            + 1
            + (self.rng.random(n) * (self.hi_s - self.lo_s)).astype(np.int64).clip(0, None)
            % (self.hi_s - self.lo_s)
        )

    def _update(self, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        keys = [k for k in rows[0] if k != "id"]
        stmt = (
            table.update()
            .where(table.c.id == sa.bindparam("b_id"))
            .values({k: sa.bindparam(f"b_{k}") for k in keys})
        )
        self.conn.execute(stmt, [{f"b_{k}": v for k, v in row.items()} for row in rows])
        self.updated.setdefault(table.name, []).extend(int(r["id"]) for r in rows)

    def _insert(self, table: sa.Table, columns: Mapping[str, Any]) -> None:
        self.writer.write(table, columns)
        self.inserted.setdefault(table.name, []).extend(np.asarray(columns["id"]).astype(int).tolist())

    # the state before the step ---------------------------------------------

    def _load(self) -> None:
        c, p = schema.customers, schema.products
        customers = self._all(sa.select(c).order_by(c.c.id))
        self.cust_ids = np.array([r.id for r in customers], dtype=np.int64)
        self.cust_roots = {int(r.cnpj[:8]) for r in customers}
        eligible = np.array(
            [
                r.status == "active" and r.deleted_at is None and to_s(r.created_at) < self.lo_s
                for r in customers
            ]
        )
        tier = np.array([TIERS.index(r.tier) for r in customers], dtype=np.int64)
        warehouses = [
            (r.id, r.state) for r in self._all(sa.select(schema.warehouses).order_by(schema.warehouses.c.id))
        ]
        wh, dist = warehouse_for_states([r.address_state for r in customers], warehouses)
        self.customers = Customers(
            ids=self.cust_ids,
            tier=tier,
            terms_days=np.array([r.payment_terms_days for r in customers], dtype=np.int64),
            warehouse_id=np.array(wh, dtype=np.int64),
            distance=np.array(dist, dtype=np.int64),
            address=[
                f"{r.address_street}, {r.address_city} - {r.address_state}, {r.address_zip}"
                for r in customers
            ],
        )
        self.cust_eligible = eligible
        self.cust_state = {int(r.id): r for r in customers}
        counts = dict(
            self._all(sa.select(schema.orders.c.customer_id, sa.func.count()).group_by("customer_id"))
        )
        self.cust_activity = np.array([counts.get(int(i), 0) + 1.0 for i in self.cust_ids]) * eligible

        products = self._all(sa.select(p.c.id, p.c.status, p.c.unit_cost).order_by(p.c.id))
        self.prod_ids = np.array([r.id for r in products], dtype=np.int64)
        self.prod_active = np.array([r.status == "active" for r in products])
        self.unit_cost = np.array([to_cents(r.unit_cost) for r in products], dtype=np.int64)
        sold = dict(
            self._all(sa.select(schema.order_items.c.product_id, sa.func.count()).group_by("product_id"))
        )
        self.popularity = np.array([sold.get(int(i), 0) + 1.0 for i in self.prod_ids]) * self.prod_active
        self.customers.staples = staple_products(self.cust_ids, self.prod_active)
        items, orders = (
            self.conn.execute(sa.select(sa.func.count()).select_from(t)).scalar() or 0
            for t in (schema.order_items, schema.orders)
        )
        self.avg_items = items / orders if orders else 5.0

    def _cust_pos(self, customer_id: int) -> int:
        return int(np.searchsorted(self.cust_ids, customer_id))
