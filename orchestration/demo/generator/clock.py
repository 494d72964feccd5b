"""Moving the demo clock forward: new orders and interactions, and updates to existing rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import sqlalchemy as sa

from orchestration.demo import schema
from orchestration.demo.generator.common import (
    DAY,
    HOUR,
    NULL,
    ORDER_STAGES,
    TIERS,
    PriceBook,
    date_to_day,
    round_cents,
    sample_times,
    to_dt,
    to_s,
)
from orchestration.demo.generator.live import LiveState, to_cents
from orchestration.demo.generator.rhythm import SLOT_OPENS, regular_order_days, regular_order_times
from orchestration.demo.generator.rows import build_interactions, build_orders, customer_rows, stage_times


class AdvanceStep(LiveState):
    """One step of the live system: everything it does lands in (previous max, previous max + days]."""

    def run(self) -> None:
        self._load()
        book, changed_products = self._price_changes()
        new_customers, new_products = self._orders(book)
        self._tier_changes(exclude=new_customers)
        self._product_status(exclude=new_products | changed_products)
        self._progress_orders()
        self._interactions()
        self._new_customers()

    def _price_changes(self) -> tuple[PriceBook, set[int]]:
        rng, pr = self.rng, schema.pricing
        n = len(self.prod_ids)
        pos = {int(pid): i for i, pid in enumerate(self.prod_ids.tolist())}
        prices = np.repeat(np.maximum(self.unit_cost * 14 // 10, 1)[:, None], 4, axis=1)
        has = np.zeros((n, 4), dtype=bool)
        current = self._all(sa.select(pr).where(pr.c.effective_to.is_(None)).order_by(pr.c.id))
        since = np.zeros(n, dtype=np.int64)
        for r in current:
            i, col = pos[r.product_id], 0 if r.customer_tier is None else TIERS.index(r.customer_tier)
            prices[i, col] = to_cents(r.price)
            has[i, col] = True
            since[i] = max(since[i], date_to_day(r.effective_from))
        prices[:, 1:] = np.where(has[:, 1:], prices[:, 1:], prices[:, :1])  # a missing tier pays list price

        far = np.iinfo(np.int32).max
        changes = np.full((n, 1), far, dtype=np.int64)
        midnights = np.arange((self.lo_s // DAY + 1) * DAY, self.hi_s + 1, DAY)
        candidates = np.flatnonzero(self.prod_active & has[:, 0])
        k = min(len(candidates), max(1, int(rng.binomial(len(candidates), min(1.0, 0.004 * self.days)))))
        chosen = np.sort(rng.choice(candidates, k, replace=False)) if k else np.array([], dtype=np.int64)
        at = rng.choice(midnights, len(chosen))
        keep = since[chosen] < at // DAY  # never close a range on the day it opened
        chosen, at = chosen[keep], at[keep]
        ratio = rng.uniform(0.95, 1.10, len(chosen))
        new_prices = prices.copy()
        new_prices[chosen] = round_cents(prices[chosen] * ratio[:, None])
        changes[chosen, 0] = at // DAY

        change_at = {int(self.prod_ids[i]): int(t) for i, t in zip(chosen.tolist(), at.tolist(), strict=True)}
        ratio_of = {
            int(self.prod_ids[i]): float(x) for i, x in zip(chosen.tolist(), ratio.tolist(), strict=True)
        }
        closing = [r for r in current if r.product_id in change_at]
        self._update(
            pr,
            [
                {
                    "id": r.id,
                    "effective_to": to_dt(change_at[r.product_id]).date(),
                    "updated_at": to_dt(change_at[r.product_id]),
                }
                for r in closing
            ],
        )
        closing.sort(key=lambda r: (change_at[r.product_id], r.product_id, r.id))
        first = self._next_id(pr)
        opened = np.array([change_at[r.product_id] for r in closing], dtype=np.int64)
        self._insert(
            pr,
            {
                "id": np.arange(first, first + len(closing)),
                "product_id": np.array([r.product_id for r in closing], dtype=np.int64),
                "customer_tier": [r.customer_tier for r in closing],
                "price": np.array(
                    [round(to_cents(r.price) * ratio_of[r.product_id]) for r in closing], dtype=np.int64
                ),
                "effective_from": opened // DAY,
                "effective_to": np.full(len(closing), NULL),
                "created_at": opened,
                "updated_at": opened,
            },
        )
        # Orders see the same prices as the rows just written.
        for row_price, r in zip(
            [round(to_cents(r.price) * ratio_of[r.product_id]) for r in closing], closing, strict=True
        ):
            col = 0 if r.customer_tier is None else TIERS.index(r.customer_tier)
            new_prices[pos[r.product_id], col] = row_price
        new_prices[:, 1:] = np.where(has[:, 1:], new_prices[:, 1:], new_prices[:, :1])
        book = PriceBook(self.prod_ids, changes, np.stack([prices, new_prices], axis=1), self.unit_cost)
        return book, set(change_at)

    def _orders(self, book: PriceBook) -> tuple[set[int], set[int]]:
        """Regular orders whose slot opens in this window (rhythm.py: a slot opens at 11:00 UTC
        of its day, so every slot belongs to exactly one step), then ad-hoc orders up to the
        last 28 days' rate."""
        rng = self.rng
        n = int(rng.poisson(self._expected(schema.orders.c.created_at)))
        if self.cust_activity.sum() == 0 or self.popularity.sum() == 0:
            return set(), set()
        eligible = np.flatnonzero(self.cust_eligible)
        lo_day, hi_day = self.lo_s // DAY, self.hi_s // DAY + 1
        pos, day = regular_order_days(
            self.cust_ids[eligible], np.full(len(eligible), lo_day), np.full(len(eligible), hi_day)
        )
        opens = day * DAY + SLOT_OPENS
        inside = (opens > self.lo_s) & (opens <= self.hi_s)
        cycle_cust, cycle_day = eligible[pos[inside]], day[inside]
        cycle_created = regular_order_times(rng, cycle_day, self.lo_s, self.hi_s)
        extra = max(n - len(cycle_cust), 0)
        adhoc_cust = rng.choice(len(self.cust_ids), extra, p=self.cust_activity / self.cust_activity.sum())
        cust = np.concatenate([cycle_cust, adhoc_cust])
        created = np.concatenate([cycle_created, sample_times(rng, self.lo_s, self.hi_s, extra)])
        if len(cust) == 0:
            return set(), set()
        regular = np.arange(len(cust)) < len(cycle_cust)
        order = np.lexsort((~regular, cust, created))
        cust, created, regular = cust[order], created[order], regular[order]
        orders, items = build_orders(
            rng,
            self.customers,
            book,
            self.popularity,
            book.prices[:, 0, 0],
            cust,
            created,
            self.hi_s,
            self._next_id(schema.orders),
            self._next_id(schema.order_items),
            self.avg_items,
            regular,
        )
        self._insert(schema.orders, orders)
        self._insert(schema.order_items, items)
        self._inventory(orders, items)
        return set(orders["customer_id"].tolist()), set(items["product_id"].tolist())

    def _inventory(self, orders: Mapping[str, Any], items: Mapping[str, Any]) -> None:
        inv = schema.inventory
        rows = self._all(sa.select(inv).order_by(inv.c.id))
        by_pair = {(r.product_id, r.warehouse_id): r for r in rows}
        warehouse_of = dict(zip(orders["id"].tolist(), orders["warehouse_id"].tolist(), strict=True))
        changes: dict[int, dict[str, Any]] = {}
        for oid, pid, qty, at in zip(
            items["order_id"].tolist(),
            items["product_id"].tolist(),
            items["quantity"].tolist(),
            items["created_at"].tolist(),
            strict=True,
        ):
            r = by_pair.get((pid, warehouse_of[oid]))
            if r is None:
                continue
            ch = changes.setdefault(
                r.id,
                {"id": r.id, "quantity_available": r.quantity_available, "quantity_reserved": r.quantity_reserved,
                 "quantity_incoming": r.quantity_incoming, "last_updated": at},
            )  # fmt: skip
            taken = min(qty, ch["quantity_available"])
            ch["quantity_available"] -= taken
            ch["quantity_reserved"] += taken // 10
            ch["last_updated"] = max(ch["last_updated"], at)
        restock = [rows[i] for i in np.flatnonzero(self.rng.random(len(rows)) < min(0.5, 0.03 * self.days))]
        when = self._random_times(len(restock)).tolist()
        fresh = self.rng.poisson(300, len(restock)).tolist()
        for r, at, incoming in zip(restock, when, fresh, strict=True):
            ch = changes.setdefault(
                r.id,
                {"id": r.id, "quantity_available": r.quantity_available, "quantity_reserved": r.quantity_reserved,
                 "quantity_incoming": r.quantity_incoming, "last_updated": at},
            )  # fmt: skip
            ch["quantity_available"] += ch["quantity_incoming"]
            ch["quantity_incoming"] = incoming
            ch["last_updated"] = max(ch["last_updated"], at)
        for ch in changes.values():
            ch["last_updated"] = to_dt(ch["last_updated"])
        self._update(inv, sorted(changes.values(), key=lambda ch: ch["id"]))

    def _tier_changes(self, exclude: set[int]) -> None:
        c = schema.customers
        candidates = [
            i for i in np.flatnonzero(self.cust_activity > 0).tolist() if int(self.cust_ids[i]) not in exclude
        ]
        k = min(len(candidates), max(1, int(self.rng.poisson(0.3 * self.days))))
        if not k:
            return
        chosen = sorted(self.rng.choice(candidates, k, replace=False).tolist())
        step = self.rng.choice(np.array([-1, 1]), k, p=[0.3, 0.7]).tolist()
        when = self._random_times(k).tolist()
        updates = []
        for i, s, at in zip(chosen, step, when, strict=True):
            tier = int(self.customers.tier[i])
            new = tier + s if 0 <= tier + s < len(TIERS) else tier - s
            updates.append({"id": int(self.cust_ids[i]), "tier": TIERS[new], "updated_at": to_dt(at)})
        self._update(c, updates)

    def _product_status(self, exclude: set[int]) -> None:
        if self.rng.random() > 1 - 0.7**self.days:
            return
        candidates = [
            int(pid) for pid, ok in zip(self.prod_ids.tolist(), self.prod_active, strict=True) if ok
        ]
        candidates = [pid for pid in candidates if pid not in exclude]
        if not candidates:
            return
        pid = int(self.rng.choice(candidates))
        at = to_dt(int(self._random_times(1)[0]))
        self._update(schema.products, [{"id": pid, "status": "discontinued", "updated_at": at}])

    def _progress_orders(self) -> None:
        o, c = schema.orders, schema.customers
        inserted = set(self.inserted.get("orders", []))
        open_stmt = (
            sa.select(o.c.id, o.c.created_at, o.c.updated_at, o.c.status, o.c.payment_method, o.c.payment_status,
                      c.c.payment_terms_days, o.c.customer_id)
            .join(c, c.c.id == o.c.customer_id)
            .where(
                sa.or_(
                    o.c.status.in_(ORDER_STAGES[:4]),
                    sa.and_(o.c.status != "cancelled", o.c.payment_status.in_(("pending", "overdue"))),
                )
            )
            .order_by(o.c.id)
        )  # fmt: skip
        rows = [r for r in self._all(open_stmt) if r.id not in inserted]
        if not rows:
            return
        rng, n, lo, hi = self.rng, len(rows), self.lo_s, self.hi_s
        stage = np.array([ORDER_STAGES.index(r.status) if r.status in ORDER_STAGES else 4 for r in rows])
        updated_s = np.array([to_s(r.updated_at) for r in rows], dtype=np.int64)
        created_s = np.array([to_s(r.created_at) for r in rows], dtype=np.int64)
        far = np.array([self.customers.distance[self._cust_pos(r.customer_id)] == 2 for r in rows])
        cum = stage_times(rng, np.zeros(n, dtype=np.int64), far)
        delays = np.diff(cum, axis=1, prepend=0)
        cols = np.arange(4)
        remaining = cols[None, :] >= stage[:, None]
        times = updated_s[:, None] + np.cumsum(np.where(remaining, delays, 0), axis=1)
        jitter = lo + 1 + rng.integers(0, min(6 * HOUR, hi - lo), n)
        times = np.maximum(times, jitter[:, None])
        reached = remaining & (times <= hi)
        new_stage = stage + reached.sum(axis=1)
        stage_at = np.where(new_stage > stage, times[np.arange(n), np.maximum(new_stage - 1, 0)], NULL)

        cancel = (stage <= 1) & (rng.random(n) < 0.03 * self.days)
        cancel_at = self._random_times(n)
        next_at = np.where(reached.any(axis=1), times[np.arange(n), np.minimum(stage, 3)], hi + 1)
        cancel &= cancel_at < next_at

        pay_u = rng.random(n)
        pay_at = self._random_times(n)
        updates = []
        for i, r in enumerate(rows):
            status, pay, events = r.status, r.payment_status, []
            instant = r.payment_method in ("pix", "credit_card")
            if cancel[i]:
                status, events = "cancelled", [int(cancel_at[i])]
                pay = "refunded" if pay == "paid" else "cancelled"
            else:
                if stage_at[i] != NULL:
                    status = ORDER_STAGES[new_stage[i]]
                    events.append(int(stage_at[i]))
                if instant and pay == "pending" and stage[i] == 0 and reached[i, 0]:
                    pay = "paid"
                    events.append(int(times[i, 0]))
                elif not instant and pay in ("pending", "overdue"):
                    due = int(created_s[i]) + int(r.payment_terms_days) * DAY
                    if pay == "pending" and due <= hi:
                        pay = "paid" if pay_u[i] < 0.94 else "overdue"
                        events.append(
                            max(lo + 1, due - int(pay_u[i] * 2 * DAY)) if pay == "paid" else max(lo + 1, due)
                        )
                    elif pay == "overdue" and pay_u[i] < 1 - 0.85**self.days:
                        pay = "paid"
                        events.append(int(pay_at[i]))
            if events:
                updates.append(
                    {"id": r.id, "status": status, "payment_status": pay, "updated_at": to_dt(max(events))}
                )
        self._update(o, updates)

    def _interactions(self) -> None:
        ci, rng = schema.customer_interactions, self.rng
        n = int(rng.poisson(self._expected(ci.c.interaction_date)))
        weight = self.cust_activity**0.6
        if n and weight.sum() > 0:
            cust = rng.choice(len(self.cust_ids), n, p=weight / weight.sum())
            at = sample_times(rng, self.lo_s, self.hi_s, n, business_share=0.7)
            order = np.lexsort((cust, at))
            rows = build_interactions(
                rng, self.cust_ids[cust[order]], at[order], self.hi_s, self._next_id(ci)
            )
            self._insert(ci, rows)
        inserted = set(self.inserted.get(ci.name, []))
        open_rows = self._all(
            sa.select(ci.c.id, ci.c.interaction_date)
            .where(ci.c.resolved.is_(False), ci.c.interaction_date > to_dt(self.lo_s - 7 * DAY))
            .order_by(ci.c.id)
        )
        open_rows = [r for r in open_rows if r.id not in inserted]
        resolve = rng.random(len(open_rows)) < 0.6
        target = (
            self.lo_s + 1 + (rng.random(len(open_rows)) * max(1, self.hi_s - self.lo_s - 61)).astype(np.int64)
        )
        updates = []
        for r, yes, t in zip(open_rows, resolve.tolist(), target.tolist(), strict=True):
            if yes:
                minutes = (t - to_s(r.interaction_date)) // 60 + 1
                done = to_s(r.interaction_date) + minutes * 60
                updates.append(
                    {
                        "id": r.id,
                        "resolved": True,
                        "resolution_time_minutes": minutes,
                        "updated_at": to_dt(done),
                    }
                )
        self._update(ci, updates)

    def _new_customers(self) -> None:
        rng, c = self.rng, schema.customers
        n = int(rng.poisson(0.15 * self.days))
        if not n:
            return
        first = self._next_id(c)
        created = np.sort(self._random_times(n))
        rows = customer_rows(rng, np.arange(first, first + n), created, self.cust_roots)
        rows.pop("address")
        rows |= {
            "credit_limit": rng.integers(6, 20, n) * 500 * 100,
            "payment_terms_days": rng.choice(np.array([7, 14, 21, 28]), n),
            "tier": ["bronze"] * n,
            "status": ["active"] * n,
            "updated_at": created,
            "deleted_at": np.full(n, NULL),
        }
        self._insert(c, rows)
