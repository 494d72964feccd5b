"""Deterministic demo data for the operational database.

``generate`` fills an empty database (SQLite, PostgreSQL or MariaDB) with a
distributor's history up to ``end``; ``advance`` moves that history forward by a
few days, inserting new rows and updating existing ones the way the live system
would, so that incremental extraction has something real to pick up.

Everything is computed with numpy from one ``default_rng`` seed, in integer cents
and whole epoch seconds, before any database is touched: the same seed, end and
scale give the same values on every backend. Large tables are produced and
written in fixed-size chunks (the chunking does not depend on the backend), so
memory stays bounded at tens of millions of order items.

    python -m orchestration.demo.generator --url sqlite:///ops.db --scale demo
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import sqlalchemy as sa

from orchestration.brazil import make_cnpjs
from orchestration.demo import names, schema

DAY = 86_400
HOUR = 3_600
NULL = np.iinfo(np.int64).min  # null marker in int64 columns (ids, epoch seconds, epoch days)
EPOCH = datetime(1970, 1, 1)
TIERS = schema.CUSTOMER_TIERS  # index 0..3; price column 0 = list price, 1..3 = silver/gold/platinum
ORDER_STAGES = ("pending", "confirmed", "processing", "shipped", "delivered")
ORDERS_PER_CHUNK = 40_000  # fixed, so output does not depend on where it is written
INTERACTIONS_PER_CHUNK = 200_000
FREE_SHIPPING_CENTS = 150_000
TAX_PERCENT = 12  # ICMS-like, on the net line value


# --------------------------------------------------------------------------- public API


@dataclass(frozen=True)
class Scale:
    customers: int
    products: int
    suppliers: int
    categories: int
    warehouses: int
    months: int
    orders: int
    avg_items_per_order: float
    interactions: int

    @classmethod
    def tiny(cls) -> Scale:
        return cls(60, 80, 8, 10, 3, 3, 600, 5.0, 300)

    @classmethod
    def demo(cls) -> Scale:
        return cls(2_000, 3_000, 40, 24, 5, 12, 100_000, 5.0, 30_000)

    @classmethod
    def named(cls, name: str) -> Scale:
        """``tiny``, ``demo``, or a number: the demo scale with that much history."""
        if name in ("tiny", "demo"):
            return getattr(cls, name)()
        try:
            factor = float(name)
        except ValueError:
            raise ValueError(f"unknown scale {name!r}: use tiny, demo or a multiplier of demo") from None
        return cls.demo().times(factor)

    def longer(self, factor: int) -> Scale:
        """``factor`` times the history at the same daily volume: months, orders and
        interactions grow together, so a day of new business is the same size at any factor."""
        if factor < 1:
            raise ValueError(f"history factor must be a whole number of at least 1, got {factor}")
        return replace(
            self,
            months=self.months * factor,
            orders=self.orders * factor,
            interactions=self.interactions * factor,
        )

    def times(self, factor: float) -> Scale:
        """The same master data with ``factor`` times the orders and interactions."""
        if factor <= 0:
            raise ValueError(f"scale factor must be positive, got {factor}")
        return replace(
            self,
            orders=max(1, round(self.orders * factor)),
            interactions=max(1, round(self.interactions * factor)),
        )


@dataclass(frozen=True)
class GenerationSummary:
    url: str
    scale: Scale
    seed: int
    start: datetime
    end: datetime
    rows: dict[str, int]
    seconds: float


@dataclass(frozen=True)
class AdvanceSummary:
    url: str
    seed: int
    previous_end: datetime  # the max timestamp before advancing: every change is strictly after it
    end: datetime
    inserted: dict[str, list[int]]
    updated: dict[str, list[int]]
    seconds: float
    rows: dict[str, int] = field(init=False)  # inserted rows per table
    updated_rows: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rows", {t: len(ids) for t, ids in self.inserted.items()})
        object.__setattr__(self, "updated_rows", {t: len(ids) for t, ids in self.updated.items()})


def generate(url: str, scale: Scale, *, seed: int = 42, end: datetime | None = None) -> GenerationSummary:
    """Create the schema if needed and fill an empty database with ``scale`` worth of history."""
    started = time.perf_counter()
    end = _normalise_end(end)
    engine = sa.create_engine(url)
    try:
        schema.create_schema(engine)
        _refuse_if_not_empty(engine, url)
        gen = _Generation(scale, seed, end)
        with engine.begin() as conn, _bulk_load_mode(conn):
            writer = _BulkWriter(conn)
            gen.write(writer)
        return GenerationSummary(
            url=_safe_url(url),
            scale=scale,
            seed=seed,
            start=_to_dt(gen.start_s),
            end=end,
            rows=dict(writer.rows),
            seconds=round(time.perf_counter() - started, 2),
        )
    finally:
        engine.dispose()


def advance(url: str, *, days: int = 1, seed: int = 42) -> AdvanceSummary:
    """Move the data ``days`` forward from its latest timestamp: new rows and updates to old ones."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    started = time.perf_counter()
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            previous = _max_timestamp(conn)
            if previous is None:
                raise ValueError(f"{_safe_url(url)} holds no demo data to advance: run generate() first")
            adv = _Advance(conn, seed, previous, days)
            adv.run()
        return AdvanceSummary(
            url=_safe_url(url),
            seed=seed,
            previous_end=previous,
            end=_to_dt(adv.hi_s),
            inserted={t.name: adv.inserted.get(t.name, []) for t in schema.TABLES},
            updated={t.name: adv.updated.get(t.name, []) for t in schema.TABLES},
            seconds=round(time.perf_counter() - started, 2),
        )
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- small helpers


def _normalise_end(end: datetime | None) -> datetime:
    if end is None:
        return datetime.now(UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0)
    if end.tzinfo is not None:
        end = end.astimezone(UTC).replace(tzinfo=None)
    return end.replace(microsecond=0)


def _safe_url(url: str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)


def _to_s(value: datetime) -> int:
    return int((value - EPOCH).total_seconds())


def _to_dt(seconds: int) -> datetime:
    return EPOCH + timedelta(seconds=int(seconds))


def _date_to_day(value: date) -> int:
    return (value - EPOCH.date()).days


def _refuse_if_not_empty(engine: sa.Engine, url: str) -> None:
    with engine.connect() as conn:
        for table in schema.TABLES:
            if conn.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first():
                raise ValueError(
                    f"{_safe_url(url)} already holds data (table {table.name!r} is not empty); "
                    "generate() only fills an empty database: drop it or use advance()"
                )


def _max_timestamp(conn: sa.Connection) -> datetime | None:
    found = []
    existing = set(sa.inspect(conn).get_table_names())
    for table in schema.TABLES:
        if table.name not in existing:
            continue
        value = conn.execute(sa.select(sa.func.max(table.c[schema.cursor_column(table)]))).scalar()
        if value is not None:
            found.append(value)
    return max(found) if found else None


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in ascii_text.lower() if ch.isalnum())


def _pick(rng: np.random.Generator, options: Sequence[Any], n: int, p: Sequence[float] | None = None) -> list:
    idx = rng.choice(len(options), size=n, p=None if p is None else np.asarray(p) / np.sum(p))
    return [options[i] for i in idx.tolist()]


def _round_cents(values: np.ndarray) -> np.ndarray:
    return np.rint(values).astype(np.int64)


def _day_weights(days: np.ndarray) -> np.ndarray:
    """Order intensity per epoch day: weekdays heavier, a mild winter (flu season) peak."""
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    by_weekday = np.array([1.1, 1.05, 1.0, 1.0, 0.95, 0.35, 0.08])[weekday]
    day_of_year = np.mod(days, 365.2425)
    season = 1.0 + 0.10 * np.cos(2 * np.pi * (day_of_year - 172) / 365.2425)
    return by_weekday * season


def _sample_times(
    rng: np.random.Generator,
    lo_s: int,
    hi_s: int,
    n: int,
    *,
    row_lo: np.ndarray | None = None,
    row_hi: np.ndarray | None = None,
    growth: float = 0.0,
    business_share: float = 0.85,
) -> np.ndarray:
    """``n`` epoch seconds in (lo_s, hi_s], by day weight, mostly in Brazilian business hours.

    ``row_lo``/``row_hi`` restrict each row to day indices [row_lo, row_hi) of the window.
    """
    first_day, last_day = lo_s // DAY, (hi_s - 1) // DAY
    days = np.arange(first_day, last_day + 1)
    covered = (np.minimum((days + 1) * DAY, hi_s) - np.maximum(days * DAY, lo_s + 1)) / DAY
    weights = _day_weights(days) * np.clip(covered, 0, 1)
    if growth:
        weights = weights * (1 + growth * np.arange(len(days)) / max(1, len(days)))
    cdf = np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    lo = np.zeros(n, dtype=np.int64) if row_lo is None else row_lo
    hi = np.full(n, len(days), dtype=np.int64) if row_hi is None else row_hi
    u = cdf[lo] + rng.random(n) * (cdf[hi] - cdf[lo])
    idx = np.clip(np.searchsorted(cdf, u, side="right") - 1, lo, hi - 1)
    day_start = days[idx] * DAY
    business = rng.random(n) < business_share
    tod = np.where(business, 11 * HOUR + rng.integers(0, 11 * HOUR, n), rng.integers(0, DAY, n))
    t = day_start + tod
    window_lo = np.maximum(day_start, lo_s + 1)
    window_hi = np.minimum(day_start + DAY - 1, hi_s)
    outside = (t < window_lo) | (t > window_hi)
    span = np.maximum(window_hi - window_lo, 0)
    t = np.where(outside, window_lo + (rng.random(n) * (span + 1)).astype(np.int64), t)
    return np.minimum(t, window_hi).astype(np.int64)


def _window_mass(lo_s: int, hi_s: int, growth: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Days of a window and the cumulative order intensity over them (for per-row windows)."""
    first_day, last_day = lo_s // DAY, (hi_s - 1) // DAY
    days = np.arange(first_day, last_day + 1)
    covered = (np.minimum((days + 1) * DAY, hi_s) - np.maximum(days * DAY, lo_s + 1)) / DAY
    weights = _day_weights(days) * np.clip(covered, 0, 1)
    if growth:
        weights = weights * (1 + growth * np.arange(len(days)) / max(1, len(days)))
    return days, np.concatenate([[0.0], np.cumsum(weights)])


# --------------------------------------------------------------------------- shared domain state


@dataclass
class _Customers:
    """What order and interaction generation needs to know about customers (index-aligned)."""

    ids: np.ndarray
    tier: np.ndarray  # 0..3
    terms_days: np.ndarray
    warehouse_id: np.ndarray
    distance: np.ndarray  # 0 same state as warehouse, 1 same region, 2 elsewhere
    address: list[str]


@dataclass
class _PriceBook:
    """Prices in cents per product index: ``prices[p, period, column]``, periods split by change days."""

    product_ids: np.ndarray
    change_days: np.ndarray  # [P, K] epoch days, sorted, NULL-free: absent = a far-future day
    prices: np.ndarray  # [P, K + 1, 4]; column 0 list price, 1..3 silver/gold/platinum

    def unit_price(self, product: np.ndarray, day: np.ndarray, tier: np.ndarray) -> np.ndarray:
        period = (self.change_days[product] <= day[:, None]).sum(axis=1)
        return self.prices[product, period, tier]  # tier 0 = bronze pays the list price


def _tier_column(tier: np.ndarray) -> np.ndarray:
    return tier.astype(np.int64)  # bronze(0) -> list price column; silver/gold/platinum -> 1..3


def _warehouse_for_states(states: Sequence[str], warehouses: Sequence[tuple[int, str]]) -> tuple[list, list]:
    """Nearest warehouse per customer state: same state, then same region, then fallback regions."""
    region = {uf.code: uf.region for uf in names.UFS}
    chosen, distance = [], []
    for state in states:
        same_state = [wid for wid, ws in warehouses if ws == state]
        if same_state:
            chosen.append(same_state[0])
            distance.append(0)
            continue
        for hop, reg in enumerate(names.REGION_FALLBACK[region[state]]):
            in_region = [wid for wid, ws in warehouses if region[ws] == reg]
            if in_region:
                chosen.append(in_region[0])
                distance.append(1 if hop == 0 else 2)
                break
        else:
            chosen.append(warehouses[0][0])
            distance.append(2)
    return chosen, distance


def _stage_times(rng: np.random.Generator, base: np.ndarray, far: np.ndarray) -> np.ndarray:
    """Cumulative times of confirmed, processing, shipped, delivered after ``base`` ([n, 4])."""
    n = len(base)
    delays = np.empty((n, 4))
    delays[:, 0] = rng.lognormal(np.log(2 * HOUR), 0.8, n)
    delays[:, 1] = rng.lognormal(np.log(8 * HOUR), 0.6, n)
    delays[:, 2] = rng.lognormal(np.log(18 * HOUR), 0.5, n)
    delays[:, 3] = rng.lognormal(np.log(np.where(far, 4 * DAY, 2 * DAY)), 0.4, n)
    return base[:, None] + np.cumsum(delays, axis=1).astype(np.int64)


def _build_orders(
    rng: np.random.Generator,
    customers: _Customers,
    book: _PriceBook,
    popularity: np.ndarray,
    list_cost: np.ndarray,
    cust: np.ndarray,
    created: np.ndarray,
    end_s: int,
    first_order_id: int,
    first_item_id: int,
    avg_items: float,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Orders (already sorted by ``created``) and their items, consistent to the cent."""
    n = len(cust)
    order_ids = np.arange(first_order_id, first_order_id + n, dtype=np.int64)
    tier = customers.tier[cust]

    # Items: how many lines, which products (distinct within an order), how much of each.
    lam = max(avg_items - 1.0, 0.0) * rng.gamma(2.0, 0.5, n)
    n_items = 1 + rng.poisson(lam)
    order_pos = np.repeat(np.arange(n), n_items)
    cdf = np.cumsum(popularity) / popularity.sum()
    n_products = len(popularity)

    def draw(size: int) -> np.ndarray:
        return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), n_products - 1)

    product = draw(len(order_pos))
    keep = np.ones(len(order_pos), dtype=bool)
    for attempt in range(4):
        _, first = np.unique(order_pos * n_products + product, return_index=True)
        dup = np.ones(len(order_pos), dtype=bool)
        dup[first] = False
        if not dup.any():
            break
        if attempt == 3:
            keep = ~dup
        else:
            product[dup] = draw(int(dup.sum()))
    order_pos, product = order_pos[keep], product[keep]
    m = len(order_pos)
    item_day = created[order_pos] // DAY
    unit_price = book.unit_price(product, item_day, _tier_column(tier[order_pos]))
    price_brl = np.maximum(list_cost[product] / 100.0, 0.5)
    q_mean = np.clip(60.0 / price_brl**0.6, 1.0, 40.0) * np.array([1.0, 1.3, 1.8, 2.5])[tier[order_pos]]
    quantity = 1 + rng.poisson(q_mean * rng.gamma(2.0, 0.5, m))
    gross = quantity * unit_price
    discount_bp = np.where(rng.random(m) < 0.25, rng.choice(np.array([200, 300, 500, 700, 1000, 1500]), m), 0)
    discount = (gross * discount_bp + 5_000) // 10_000
    tax = ((gross - discount) * TAX_PERCENT + 50) // 100
    line_total = gross - discount + tax

    # Orders: sums of their lines, then shipping, lifecycle and payment.
    subtotal = np.bincount(order_pos, weights=gross, minlength=n).round().astype(np.int64)
    order_discount = np.bincount(order_pos, weights=discount, minlength=n).round().astype(np.int64)
    order_tax = np.bincount(order_pos, weights=tax, minlength=n).round().astype(np.int64)
    distance = customers.distance[cust]
    ship_lo = np.array([1_490, 2_490, 3_990])[distance]
    ship_hi = np.array([2_490, 3_990, 7_990])[distance]
    shipping = (ship_lo + (rng.random(n) * (ship_hi - ship_lo))).astype(np.int64) // 10 * 10
    shipping = np.where(subtotal >= FREE_SHIPPING_CENTS, 0, shipping)
    total = subtotal - order_discount + order_tax + shipping

    stages = _stage_times(rng, created, distance == 2)
    reached = (stages <= end_s).sum(axis=1)
    wants_cancel = rng.random(n) < 0.055
    cancel_at = created + (rng.uniform(0.1, 0.95, n) * (stages[:, 2] - created)).astype(np.int64)
    cancelled = wants_cancel & (cancel_at <= end_s)
    status_idx = np.where(cancelled, 5, reached)
    stage_time = np.where(reached > 0, stages[np.arange(n), np.maximum(reached - 1, 0)], created)
    status_time = np.where(cancelled, cancel_at, stage_time)

    method_idx = rng.choice(4, n, p=[0.45, 0.25, 0.10, 0.20])  # boleto, pix, credit_card, bank_transfer
    instant = (method_idx == 1) | (method_idx == 2)
    due = created + customers.terms_days[cust] * DAY
    defaulter = rng.random(n) < 0.06
    paid_at = np.maximum(due + rng.integers(-3 * DAY, 5 * DAY, n), stages[:, 0])
    paid_at = np.where(instant, stages[:, 0], paid_at)
    pay_status = np.full(n, "pending", dtype=object)
    pay_time = np.full(n, NULL, dtype=np.int64)
    is_paid = (paid_at <= end_s) & ~defaulter & ~cancelled
    pay_status[is_paid] = "paid"
    pay_time[is_paid] = paid_at[is_paid]
    overdue = ~instant & ~cancelled & ~is_paid & (due <= end_s)
    pay_status[overdue] = "overdue"
    pay_time[overdue] = due[overdue]
    refunded = cancelled & instant & (stages[:, 0] < cancel_at)
    pay_status[cancelled] = "cancelled"
    pay_status[refunded] = "refunded"
    updated = np.maximum(status_time, np.where(pay_time == NULL, 0, pay_time))

    statuses = np.array([*ORDER_STAGES, "cancelled"], dtype=object)
    notes = np.array([None, *names.ORDER_NOTES], dtype=object)
    note_idx = np.where(rng.random(n) < 0.08, rng.integers(1, len(notes), n), 0)
    address = customers.address
    orders = {
        "id": order_ids,
        "customer_id": customers.ids[cust],
        "warehouse_id": customers.warehouse_id[cust],
        "order_date": created // DAY,
        "status": statuses[status_idx].tolist(),
        "subtotal": subtotal,
        "discount": order_discount,
        "tax": order_tax,
        "shipping_cost": shipping,
        "total": total,
        "payment_method": np.array(schema.PAYMENT_METHODS, dtype=object)[method_idx].tolist(),
        "payment_status": pay_status.tolist(),
        "shipping_address": [address[i] for i in cust.tolist()],
        "notes": notes[note_idx].tolist(),
        "created_at": created,
        "updated_at": updated,
    }
    items = {
        "id": np.arange(first_item_id, first_item_id + m, dtype=np.int64),
        "order_id": order_ids[order_pos],
        "product_id": book.product_ids[product],
        "quantity": quantity,
        "unit_price": unit_price,
        "discount": discount,
        "tax": tax,
        "total": line_total,
        "created_at": created[order_pos],
        "updated_at": created[order_pos],
    }
    return orders, items


def _build_interactions(
    rng: np.random.Generator, customer_ids: np.ndarray, at: np.ndarray, end_s: int, first_id: int
) -> dict[str, Any]:
    n = len(at)
    channel = rng.choice(4, n, p=[0.45, 0.20, 0.20, 0.15])  # whatsapp, email, phone, web
    kind = rng.choice(4, n, p=[0.40, 0.13, 0.25, 0.22])  # inquiry, complaint, order, support
    is_ai = rng.random(n) < np.array([0.55, 0.25, 0.15, 0.60])[channel]
    complaint = kind == 1
    resolved = rng.random(n) < np.where(complaint, 0.75, 0.93)
    minutes = np.where(is_ai, rng.lognormal(np.log(4), 0.8, n), rng.lognormal(np.log(60), 1.0, n)) * np.where(
        complaint, 3.0, 1.0
    )
    minutes = np.maximum(1, np.rint(minutes)).astype(np.int64)
    resolved &= at + minutes * 60 <= end_s
    return {
        "id": np.arange(first_id, first_id + n, dtype=np.int64),
        "customer_id": customer_ids,
        "interaction_date": at,
        "channel": np.array(schema.INTERACTION_CHANNELS, dtype=object)[channel].tolist(),
        "interaction_type": np.array(schema.INTERACTION_TYPES, dtype=object)[kind].tolist(),
        "resolved": resolved,
        "resolution_time_minutes": np.where(resolved, minutes, NULL),
        "agent_type": np.array(schema.AGENT_TYPES, dtype=object)[is_ai.astype(int)].tolist(),
        "created_at": at,
        "updated_at": np.where(resolved, at + minutes * 60, at),
    }


def _customer_rows(
    rng: np.random.Generator, ids: np.ndarray, created: np.ndarray, taken_roots: set[int]
) -> dict[str, Any]:
    """Pharmacies: names, valid unique CNPJs, addresses spread over the UFs by population."""
    n = len(ids)
    ufs = names.UFS
    uf_idx = rng.choice(
        len(ufs), n, p=np.array([u.population_m for u in ufs]) / sum(u.population_m for u in ufs)
    )
    roots = _unique_roots(rng, n, taken_roots)
    cnpjs = make_cnpjs(roots, 1)
    prefix = _pick(rng, names.PHARMACY_PREFIXES, n)
    use_core = rng.random(n) < 0.7
    core = _pick(rng, names.PHARMACY_CORES, n)
    surname = _pick(rng, names.SURNAMES, n)
    surname2 = _pick(rng, names.SURNAMES, n)
    first = _pick(rng, names.FIRST_NAMES, n)
    street_type = _pick(rng, names.STREET_TYPES, n)
    street = _pick(rng, names.STREET_NAMES, n)
    number = rng.integers(10, 3_000, n).tolist()
    capital = rng.random(n) < 0.45
    city_pick = rng.random(n)
    domain = _pick(rng, names.EMAIL_DOMAINS, n)
    mobile = rng.random(n) < 0.6
    phone_a = rng.integers(1_000, 10_000, n).tolist()
    phone_b = rng.integers(1_000, 10_000, n).tolist()
    cep_pick = rng.random(n)
    cep_suffix = rng.integers(0, 1_000, n).tolist()
    ddd_pick = rng.random(n)
    legal_form = rng.random(n)
    rows: dict[str, list] = {k: [] for k in ("name", "legal_name", "email", "phone", "contact_name")}
    rows |= {k: [] for k in ("address_street", "address_city", "address_state", "address_zip", "address")}
    for i in range(n):
        uf = ufs[uf_idx[i]]
        name = f"{prefix[i]} {core[i] if use_core[i] else surname[i]}"
        if legal_form[i] < 0.5:
            legal = f"{surname[i]} & {surname2[i]} Comércio de Medicamentos Ltda"
        elif legal_form[i] < 0.8:
            legal = f"{name} Ltda - ME"
        else:
            legal = f"{first[i]} {surname[i]} Drogaria EIRELI"
        cities = uf.cities
        city = (
            cities[0] if capital[i] or len(cities) == 1 else cities[1 + int(city_pick[i] * (len(cities) - 1))]
        )
        cep_lo, cep_hi = uf.cep_range
        cep = cep_lo + int(cep_pick[i] * (cep_hi - cep_lo + 1))
        ddd = uf.area_codes[int(ddd_pick[i] * len(uf.area_codes))]
        phone = (
            f"+55 {ddd} 9{phone_a[i]}-{phone_b[i]}"
            if mobile[i]
            else f"+55 {ddd} {3000 + phone_a[i] % 7000}-{phone_b[i]}"
        )
        zip_code = f"{cep:05d}-{cep_suffix[i]:03d}"
        street_line = f"{street_type[i]} {street[i]}, {number[i]}"
        rows["name"].append(name)
        rows["legal_name"].append(legal)
        rows["email"].append(f"{_slug(name)}.{cnpjs[i][:4]}@{domain[i]}")
        rows["phone"].append(phone)
        rows["contact_name"].append(f"{first[i]} {surname2[i]}")
        rows["address_street"].append(street_line)
        rows["address_city"].append(city)
        rows["address_state"].append(uf.code)
        rows["address_zip"].append(zip_code)
        rows["address"].append(f"{street_line}, {city} - {uf.code}, {zip_code}")
    rows["cnpj"] = cnpjs
    rows["id"] = ids
    rows["created_at"] = created
    return rows


def _unique_roots(rng: np.random.Generator, n: int, taken: set[int]) -> np.ndarray:
    roots: list[int] = []
    while len(roots) < n:
        for r in rng.integers(1_000_000, 99_999_999, 2 * (n - len(roots)) + 8).tolist():
            if r not in taken and len(roots) < n:
                taken.add(r)
                roots.append(r)
    return np.array(roots, dtype=np.int64)


# --------------------------------------------------------------------------- full generation


class _Generation:
    def __init__(self, scale: Scale, seed: int, end: datetime) -> None:
        self.scale = scale
        self.seed = seed
        self.end_s = _to_s(end)
        history_days = max(1, round(scale.months * 365.2425 / 12))
        self.start_s = (self.end_s // DAY - history_days) * DAY
        self.rng = np.random.default_rng(seed)
        self.roots: set[int] = set()

    def write(self, w: _BulkWriter) -> None:
        self._categories(w)
        self._suppliers(w)
        self._warehouses(w)
        self._customers(w)
        self._products(w)
        self._inventory(w)
        self._pricing(w)
        self._orders(w)
        self._interactions(w)

    # master data ----------------------------------------------------------

    def _categories(self, w: _BulkWriter) -> None:
        tree = names.CATEGORY_TREE[: max(1, min(self.scale.categories, len(names.CATEGORY_TREE)))]
        ids = {name: i + 1 for i, (name, _, _) in enumerate(tree)}
        self.category_of: list[tuple[int, names.Ingredient]] = []
        for name, parent, ingredients in names.CATEGORY_TREE:
            target = ids.get(name) or ids.get(parent or "")
            self.category_of.extend((target, ing) for ing in ingredients if target)
        created = self.start_s - 5 * 365 * DAY + np.arange(len(tree)) * 3_600
        w.write(
            schema.categories,
            {
                "id": np.arange(1, len(tree) + 1),
                "name": [name for name, _, _ in tree],
                "parent_id": np.array([ids[p] if p else NULL for _, p, _ in tree], dtype=np.int64),
                "created_at": created,
                "updated_at": created,
            },
        )

    def _suppliers(self, w: _BulkWriter) -> None:
        rng, n = self.rng, self.scale.suppliers
        is_mfr = rng.random(n) < 0.75
        is_mfr[0] = True
        cores = [names.SUPPLIER_CORES[i] for i in rng.permutation(len(names.SUPPLIER_CORES))]
        cores = [
            cores[i % len(cores)] + ("" if i < len(cores) else f" {i // len(cores) + 1}") for i in range(n)
        ]
        forms_m = _pick(rng, names.MANUFACTURER_FORMS, n)
        forms_d = _pick(rng, names.DISTRIBUTOR_FORMS, n)
        first = _pick(rng, names.FIRST_NAMES, n)
        last = _pick(rng, names.SURNAMES, n)
        ddd = rng.choice(np.array([11, 11, 19, 21, 31, 41, 62, 81]), n)
        created = (
            self.start_s - rng.integers(2 * 365, 8 * 365, n) * DAY + rng.integers(11 * HOUR, 22 * HOUR, n)
        )
        updated = np.where(
            rng.random(n) < 0.5, created, created + (rng.random(n) * (self.end_s - created)).astype(np.int64)
        )
        self.supplier_names = [(forms_m[i] if is_mfr[i] else forms_d[i]).format(cores[i]) for i in range(n)]
        self.manufacturer_ids = np.flatnonzero(is_mfr) + 1
        w.write(
            schema.suppliers,
            {
                "id": np.arange(1, n + 1),
                "name": self.supplier_names,
                "cnpj": make_cnpjs(_unique_roots(rng, n, self.roots), 1),
                "supplier_type": ["manufacturer" if m else "distributor" for m in is_mfr.tolist()],
                "contact_name": [f"{a} {b}" for a, b in zip(first, last, strict=True)],
                "contact_email": [f"comercial@{_slug(c)}.com.br" for c in cores],
                "contact_phone": [
                    f"+55 {d} {a}-{b}"
                    for d, a, b in zip(
                        ddd.tolist(),
                        rng.integers(2_000, 5_000, n).tolist(),
                        rng.integers(1_000, 10_000, n).tolist(),
                        strict=True,
                    )
                ],
                "payment_terms_days": rng.choice(np.array([28, 30, 45, 60, 90]), n),
                "lead_time_days": rng.integers(2, 31, n),
                "status": np.where(rng.random(n) < 0.9, "active", "inactive").astype(object).tolist(),
                "created_at": created,
                "updated_at": updated,
            },
        )

    def _warehouses(self, w: _BulkWriter) -> None:
        chosen = names.WAREHOUSES[: max(1, min(self.scale.warehouses, len(names.WAREHOUSES)))]
        created = self.start_s - 6 * 365 * DAY + np.arange(len(chosen)) * 200 * DAY
        self.warehouse_states = [(i + 1, wh[3]) for i, wh in enumerate(chosen)]
        w.write(
            schema.warehouses,
            {
                "id": np.arange(1, len(chosen) + 1),
                "code": [wh[0] for wh in chosen],
                "name": [wh[1] for wh in chosen],
                "city": [wh[2] for wh in chosen],
                "state": [wh[3] for wh in chosen],
                "created_at": created,
                "updated_at": created,
            },
        )

    def _customers(self, w: _BulkWriter) -> None:
        rng, n = self.rng, self.scale.customers
        start, end = self.start_s, self.end_s
        history = end - start
        new = rng.random(n) < 0.15
        created_day = np.where(
            new,
            start // DAY + (rng.random(n) * max(1, history // DAY - 7)).astype(np.int64),
            start // DAY - rng.integers(1, 4 * 365, n),
        )
        created = created_day * DAY + rng.integers(11 * HOUR, 22 * HOUR, n)
        created = np.minimum(created, end)
        rows = _customer_rows(rng, np.arange(1, n + 1), created, self.roots)

        activity = rng.lognormal(0.0, 1.0, n)
        rank = np.argsort(np.argsort(-activity, kind="stable"), kind="stable") / n
        tier = np.select([rank < 0.05, rank < 0.20, rank < 0.50], [3, 2, 1], 0)
        credit = (np.array([5_000, 15_000, 40_000, 100_000])[tier] * rng.lognormal(0, 0.3, n)) // 500 * 500
        terms = np.where(
            tier >= 2, rng.choice(np.array([30, 45, 60]), n), rng.choice(np.array([7, 14, 21, 28, 30]), n)
        )
        status = rng.choice(3, n, p=[0.88, 0.08, 0.04])
        # Customers stop ordering when they leave: inactive/suspended at updated_at, deleted at deleted_at.
        since = end - created
        changed = created + (rng.uniform(0.3, 1.0, n) * since).astype(np.int64)
        touched = rng.random(n) < 0.6
        updated = np.where((status > 0) | touched, changed, created)
        deleted = (rng.random(n) < 0.02) & (since > 60 * DAY)
        status[deleted] = 1
        deleted_at = np.where(deleted, changed, NULL)
        updated = np.where(deleted, changed, updated)
        stops = np.where(status > 0, updated, end)

        self.days, cum = _window_mass(start, end, growth=0.2)
        first_day = self.days[0]
        lo = np.clip(created // DAY - first_day + 1, 0, len(self.days))
        hi = np.clip(stops // DAY - first_day, 0, len(self.days))
        hi = np.maximum(hi, lo)
        self.cust_lo, self.cust_hi = lo, hi
        mass = cum[hi] - cum[lo]
        self.order_weight = activity * mass
        self.interaction_weight = (activity**0.6) * mass

        wh, dist = _warehouse_for_states(rows["address_state"], self.warehouse_states)
        self.customers = _Customers(
            ids=rows["id"],
            tier=tier,
            terms_days=terms,
            warehouse_id=np.array(wh, dtype=np.int64),
            distance=np.array(dist, dtype=np.int64),
            address=rows.pop("address"),
        )
        rows |= {
            "credit_limit": credit.astype(np.int64) * 100,
            "payment_terms_days": terms,
            "tier": np.array(TIERS, dtype=object)[tier].tolist(),
            "status": np.array(schema.CUSTOMER_STATUSES, dtype=object)[status].tolist(),
            "updated_at": updated,
            "deleted_at": deleted_at,
        }
        w.write(schema.customers, rows)

    def _products(self, w: _BulkWriter) -> None:
        rng, n = self.rng, self.scale.products
        variants = [
            (cat, ing, dosage, form) for cat, ing in self.category_of for dosage in ing[1] for form in ing[2]
        ]
        pick = rng.integers(0, len(variants), n)
        mfr = rng.choice(self.manufacturer_ids, n)
        generic = rng.random(n) < 0.4
        units = rng.choice(np.array(names.PACKAGE_SIZES_UNITS), n)
        liquid_pack = _pick(rng, names.PACKAGE_SIZES_LIQUID, n)
        suffix = _pick(rng, names.BRAND_SUFFIXES, n)
        noise = rng.lognormal(0.0, 0.2, n)
        seq = rng.integers(1, 10_000, n).tolist()
        pres = rng.integers(1, 60, n).tolist()
        rows: dict[str, list] = {k: [] for k in ("name", "description", "active_ingredient", "dosage")}
        rows |= {"package_size": [], "regulatory_code": [], "category_id": []}
        cost = np.empty(n)
        for i in range(n):
            cat, ing, dosage, form = variants[pick[i]]
            ingredient, _, _, base_cost = ing
            liquid = any(word in form for word in names.LIQUID_FORMS)
            package = liquid_pack[i] if liquid else f"{units[i]} unidades"
            brand = ingredient.split()[-1 if ingredient.startswith(("Cloridrato", "Oxalato")) else 0]
            brand = _slug(brand)[:5].capitalize() + suffix[i]
            shown = ingredient if generic[i] else brand
            pack_text = package if liquid else f"c/ {units[i]}"
            rows["name"].append(f"{shown} {dosage} {form} {pack_text}")
            kind = "Medicamento genérico (Lei 9.787/99)" if generic[i] else "Medicamento de marca"
            maker = self.supplier_names[mfr[i] - 1]
            rows["description"].append(f"{ingredient} {dosage}, {form.lower()}, {package}. {kind}. {maker}.")
            rows["active_ingredient"].append(ingredient)
            rows["dosage"].append(dosage)
            rows["package_size"].append(package)
            code = f"1{(1000 + mfr[i] * 73) % 10_000:04d}{seq[i]:04d}{pres[i]:03d}"
            check = sum(int(d) * (2 if k % 2 else 1) for k, d in enumerate(code)) % 10
            rows["regulatory_code"].append(f"{code}{check}")
            rows["category_id"].append(cat)
            size_factor = 1.0 if liquid else (units[i] / 20) ** 0.8
            cost[i] = base_cost * size_factor * (0.55 if generic[i] else 1.0) * noise[i]
        unit_cost = np.maximum(150, _round_cents(cost * 100))
        created = self.start_s - rng.integers(30, 5 * 365, n) * DAY + rng.integers(11 * HOUR, 22 * HOUR, n)
        # Discontinued products left the catalogue before the history starts, so no order holds them.
        discontinued = rng.random(n) < 0.04
        gone = np.minimum(created + 10 * DAY, self.start_s - 1) + rng.integers(0, 5 * DAY, n)
        gone = np.minimum(gone, self.start_s - 1)
        touched = rng.random(n) < 0.3
        touched_at = created + (rng.random(n) * (self.end_s - created)).astype(np.int64)
        updated = np.where(discontinued, gone, np.where(touched, touched_at, created))
        popularity = (1.0 / (1 + rng.permutation(n)) ** 0.9) * np.where(generic, 1.3, 1.0)
        popularity[discontinued] = 0.0
        if popularity.sum() == 0:
            popularity[:] = 1.0
        self.popularity, self.unit_cost, self.product_created = popularity, unit_cost, created
        ids = np.arange(1, n + 1)
        rows |= {
            "id": ids,
            "sku": [f"PRD-{i:06d}" for i in ids.tolist()],
            "manufacturer_id": mfr,
            "is_generic": generic,
            "unit_cost": unit_cost,
            "status": np.where(discontinued, "discontinued", "active").astype(object).tolist(),
            "created_at": created,
            "updated_at": updated,
            "deleted_at": np.full(n, NULL),
        }
        w.write(schema.products, rows)

    def _inventory(self, w: _BulkWriter) -> None:
        rng, n_p = self.rng, self.scale.products
        wh_ids = np.array([wid for wid, _ in self.warehouse_states])
        n_w = len(wh_ids)
        present = rng.random((n_p, n_w)) < 0.85
        present[np.arange(n_p), np.arange(n_p) % n_w] = True
        prod, whi = np.nonzero(present)
        m = len(prod)
        level = self.popularity[prod] / self.popularity.max()
        available = rng.poisson(20 + 3_000 * level)
        reserved = rng.binomial(available, 0.05)
        incoming = np.where(rng.random(m) < 0.3, rng.poisson(200 + 1_000 * level), 0)
        reorder = (50 + 800 * level).astype(np.int64)
        last = self.end_s - rng.integers(0, 5 * DAY, m)
        w.write(
            schema.inventory,
            {
                "id": np.arange(1, m + 1),
                "product_id": prod + 1,
                "warehouse_id": wh_ids[whi],
                "quantity_available": available,
                "quantity_reserved": reserved,
                "quantity_incoming": incoming,
                "reorder_point": reorder,
                "last_updated": np.maximum(last, self.product_created[prod] + 1),
            },
        )

    def _pricing(self, w: _BulkWriter) -> None:
        rng, n = self.rng, self.scale.products
        first_day, last_day = self.start_s // DAY + 1, self.end_s // DAY
        aprils = [
            _date_to_day(date(y, 4, 1))
            for y in range(_to_dt(self.start_s).year, _to_dt(self.end_s).year + 1)
            if first_day <= _date_to_day(date(y, 4, 1)) <= last_day
        ]
        far = np.iinfo(np.int32).max
        k = len(aprils) + 1
        changes = np.full((n, k), far, dtype=np.int64)
        for j, day in enumerate(aprils):  # the yearly CMED adjustment, on 1 April
            changes[rng.random(n) < 0.7, j] = day
        random_change = rng.random(n) < 0.15
        changes[random_change, -1] = rng.integers(first_day, last_day + 1, int(random_change.sum()))
        changes.sort(axis=1)
        changes = np.where(np.diff(changes, axis=1, prepend=-1) == 0, far, changes)  # same day twice
        changes.sort(axis=1)
        step = np.where(
            np.isin(changes, aprils), rng.uniform(1.03, 1.10, (n, k)), rng.uniform(0.92, 1.08, (n, k))
        )
        list0 = self.unit_cost * rng.uniform(1.25, 1.6, n)
        factors = np.concatenate([np.ones((n, 1)), np.cumprod(step, axis=1)], axis=1)
        tier_mult = np.array([1.0, 0.97, 0.94, 0.90]) * np.concatenate(
            [np.ones((n, 1)), rng.uniform(0.98, 1.0, (n, 3))], axis=1
        )
        prices = _round_cents(list0[:, None, None] * factors[:, :, None] * tier_mult[:, None, :])

        # One row per (product, period, price column); periods exist up to the first absent change.
        n_periods = 1 + (changes < far).sum(axis=1)
        prod = np.repeat(np.arange(n), n_periods * 4)
        period = np.concatenate([np.repeat(np.arange(p), 4) for p in n_periods.tolist()])
        column = np.tile(np.arange(4), int(n_periods.sum()))
        bounds = np.concatenate([np.full((n, 1), NULL), changes, np.full((n, 1), far)], axis=1)
        start_day = bounds[prod, period]
        end_day = bounds[prod, period + 1]
        created_at = np.where(start_day == NULL, self.product_created[prod], start_day * DAY)
        start_day = np.where(start_day == NULL, self.product_created[prod] // DAY, start_day)
        end_day = np.where(end_day == far, NULL, end_day)
        updated_at = np.where(end_day == NULL, created_at, end_day * DAY)
        order = np.lexsort((column, prod, created_at))
        self.book = _PriceBook(np.arange(1, n + 1), changes, prices)
        w.write(
            schema.pricing,
            {
                "id": np.arange(1, len(prod) + 1),
                "product_id": prod[order] + 1,
                "customer_tier": np.array([None, *TIERS[1:]], dtype=object)[column[order]].tolist(),
                "price": prices[prod, period, column][order],
                "effective_from": start_day[order],
                "effective_to": end_day[order],
                "created_at": created_at[order],
                "updated_at": updated_at[order],
            },
        )

    # history -----------------------------------------------------------------

    def _orders(self, w: _BulkWriter) -> None:
        rng, n = self.rng, self.scale.orders
        weight = self.order_weight
        cust = rng.choice(len(weight), n, p=weight / weight.sum())
        created = _sample_times(
            rng, self.start_s, self.end_s, n, row_lo=self.cust_lo[cust], row_hi=self.cust_hi[cust], growth=0.2
        )
        order = np.lexsort((cust, created))
        cust, created = cust[order], created[order]
        next_item = 1
        for lo in range(0, n, ORDERS_PER_CHUNK):
            hi = min(n, lo + ORDERS_PER_CHUNK)
            orders, items = _build_orders(
                rng,
                self.customers,
                self.book,
                self.popularity,
                self.unit_cost,
                cust[lo:hi],
                created[lo:hi],
                self.end_s,
                lo + 1,
                next_item,
                self.scale.avg_items_per_order,
            )
            w.write(schema.orders, orders)
            w.write(schema.order_items, items)
            next_item += len(items["id"])

    def _interactions(self, w: _BulkWriter) -> None:
        rng, n = self.rng, self.scale.interactions
        weight = self.interaction_weight
        cust = rng.choice(len(weight), n, p=weight / weight.sum())
        at = _sample_times(
            rng,
            self.start_s,
            self.end_s,
            n,
            row_lo=self.cust_lo[cust],
            row_hi=self.cust_hi[cust],
            business_share=0.7,
        )
        order = np.lexsort((cust, at))
        cust, at = cust[order], at[order]
        for lo in range(0, n, INTERACTIONS_PER_CHUNK):
            hi = min(n, lo + INTERACTIONS_PER_CHUNK)
            rows = _build_interactions(rng, self.customers.ids[cust[lo:hi]], at[lo:hi], self.end_s, lo + 1)
            w.write(schema.customer_interactions, rows)


# --------------------------------------------------------------------------- bulk writing


@contextlib.contextmanager
def _bulk_load_mode(conn: sa.Connection) -> Iterator[None]:
    """Check foreign keys and build secondary indexes once after the load, not once per row.

    PostgreSQL: foreign keys and non-unique indexes are dropped and re-created from
    their own definitions inside the load transaction (as pg_restore does), so a
    failure leaves the schema untouched and re-adding a key validates all rows at
    once. MariaDB: the session's foreign-key and unique checks are switched off.
    """
    tables = [t.name for t in schema.TABLES]
    if conn.dialect.name == "postgresql":
        fks = conn.execute(
            sa.text(
                "select cl.relname, con.conname, pg_get_constraintdef(con.oid) from pg_constraint con "
                "join pg_class cl on cl.oid = con.conrelid join pg_namespace ns on ns.oid = cl.relnamespace "
                "where con.contype = 'f' and ns.nspname = current_schema() and cl.relname = any(:t) "
                "order by cl.relname, con.conname"
            ),
            {"t": tables},
        ).all()
        indexes = conn.execute(
            sa.text(
                "select i.indexname, i.indexdef from pg_indexes i where i.schemaname = current_schema() "
                "and i.tablename = any(:t) and not exists "
                "(select 1 from pg_constraint c where c.conname = i.indexname) order by i.indexname"
            ),
            {"t": tables},
        ).all()
        for table, name, _ in fks:
            conn.exec_driver_sql(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
        yield
        for _, definition in indexes:
            conn.exec_driver_sql(definition)
        for table, name, definition in fks:
            conn.exec_driver_sql(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    elif conn.dialect.name in ("mysql", "mariadb"):
        conn.exec_driver_sql("SET foreign_key_checks = 0, unique_checks = 0")
        try:
            yield
        finally:
            conn.exec_driver_sql("SET foreign_key_checks = 1, unique_checks = 1")
    else:
        yield


def _kind(column: sa.Column) -> str:
    t = column.type
    if isinstance(t, sa.Boolean):
        return "bool"
    if isinstance(t, sa.DateTime):
        return "datetime"
    if isinstance(t, sa.Date):
        return "date"
    if isinstance(t, sa.Numeric) and not isinstance(t, sa.Integer | sa.Float):
        return "money"
    if isinstance(t, sa.Integer):
        return "int"
    return "str"


_CENTS = np.array([f"{i:02d}" for i in range(100)])


def _as_text(kind: str, values: Any) -> tuple[list, np.ndarray | None]:
    """Column values as text (for COPY and pymysql) and the null mask, if any."""
    if kind == "str":
        values = list(values)
        return values, None
    arr = np.asarray(values)
    if kind == "bool":
        return np.where(arr, "1", "0").tolist(), None
    nulls = arr == NULL
    if kind == "int":
        text = arr.astype(np.int64).astype(str)
    elif kind == "money":
        cents = np.abs(arr.astype(np.int64))
        text = np.strings.add(np.strings.add((cents // 100).astype(str), "."), _CENTS[cents % 100])
        text = np.where(arr < 0, np.strings.add("-", text), text)
    elif kind == "datetime":
        text = np.strings.replace(
            np.datetime_as_string(np.where(nulls, 0, arr).astype("datetime64[s]")), "T", " "
        )
    else:  # date, as epoch days
        text = np.datetime_as_string(np.where(nulls, 0, arr).astype("datetime64[D]"))
    return text.tolist(), (nulls if nulls.any() else None)


def _with_nulls(values: list, nulls: np.ndarray | None, null: Any) -> list:
    if nulls is not None:
        for i in np.flatnonzero(nulls).tolist():
            values[i] = null
    return values


class _BulkWriter:
    """Appends column chunks to tables with each backend's fastest bulk path, in the caller's transaction."""

    MYSQL_ROWS_PER_CALL = 20_000

    def __init__(self, conn: sa.Connection, *, tune_sqlite: bool = True) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        self.driver = conn.dialect.driver
        self.dbapi = conn.connection.dbapi_connection
        self.rows: dict[str, int] = {t.name: 0 for t in schema.TABLES}
        if self.dialect == "sqlite" and tune_sqlite:  # a fresh load: nothing to lose if the process dies
            cur = self.dbapi.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=OFF")
            cur.close()

    def write(self, table: sa.Table, columns: Mapping[str, Any]) -> int:
        names_ = [c.name for c in table.columns]
        missing = set(names_) - set(columns)
        if missing:
            raise ValueError(f"rows for {table.name} lack columns {sorted(missing)}")
        n = len(columns["id"])
        if n == 0:
            return 0
        if self.dialect == "postgresql" and self.driver in ("psycopg", "psycopg2"):
            self._copy(table, names_, columns)
        elif self.dialect == "sqlite":
            self._executemany(table, names_, columns, "?", sqlite=True, chunk=n)
        elif self.dialect in ("mysql", "mariadb") and self.driver in ("pymysql", "mysqldb"):
            self._executemany(table, names_, columns, "%s", sqlite=False, chunk=self.MYSQL_ROWS_PER_CALL)
        else:
            self._generic(table, names_, columns, n)
        self.rows[table.name] += n
        return n

    def _copy(self, table: sa.Table, cols: list[str], columns: Mapping[str, Any]) -> None:
        texts = []
        for c in cols:
            kind = _kind(table.c[c])
            values, nulls = _as_text(kind, columns[c])
            if kind == "bool":
                values = ["t" if v == "1" else "f" for v in values]
            if kind == "str":
                values = ["" if v is None else '"' + v.replace('"', '""') + '"' for v in values]
            texts.append(_with_nulls(values, nulls, ""))
        body = "\n".join(map(",".join, zip(*texts, strict=True))) + "\n"
        sql = f"COPY {table.name} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv)"
        cur = self.dbapi.cursor()
        try:
            if self.driver == "psycopg":
                with cur.copy(sql) as copy:
                    copy.write(body.encode())
            else:
                cur.copy_expert(sql, io.StringIO(body))
        finally:
            cur.close()

    def _executemany(
        self,
        table: sa.Table,
        cols: list[str],
        columns: Mapping[str, Any],
        mark: str,
        *,
        sqlite: bool,
        chunk: int,
    ) -> None:
        lists = []
        for c in cols:
            kind = _kind(table.c[c])
            if kind in ("int", "bool"):
                arr = np.asarray(columns[c]).astype(np.int64)
                values, nulls = arr.tolist(), (arr == NULL)
                nulls = nulls if nulls.any() else None
            else:
                values, nulls = _as_text(kind, columns[c])
                if sqlite and kind == "datetime":  # SQLAlchemy's SQLite storage format, so comparisons match
                    values = [v + ".000000" for v in values]
            lists.append(_with_nulls(values, nulls, None))
        sql = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join([mark] * len(cols))})"
        rows = list(zip(*lists, strict=True))
        cur = self.dbapi.cursor()
        try:
            for lo in range(0, len(rows), chunk):
                cur.executemany(sql, rows[lo : lo + chunk])
        finally:
            cur.close()

    def _generic(self, table: sa.Table, cols: list[str], columns: Mapping[str, Any], n: int) -> None:
        converted = []
        for c in cols:
            kind = _kind(table.c[c])
            values = columns[c]
            if kind == "str":
                converted.append(list(values))
                continue
            arr = np.asarray(values).astype(np.int64)
            if kind == "bool":
                converted.append([bool(v) for v in arr.tolist()])
            elif kind == "int":
                converted.append([None if v == NULL else v for v in arr.tolist()])
            elif kind == "money":
                converted.append([Decimal(v).scaleb(-2) for v in arr.tolist()])
            elif kind == "datetime":
                converted.append([None if v == NULL else _to_dt(v) for v in arr.tolist()])
            else:
                converted.append(
                    [None if v == NULL else EPOCH.date() + timedelta(days=v) for v in arr.tolist()]
                )
        self.conn.execute(
            table.insert(), [dict(zip(cols, row, strict=True)) for row in zip(*converted, strict=True)]
        )


# --------------------------------------------------------------------------- advancing


def _cents(value: Any) -> int:
    return int((Decimal(str(value)) * 100).to_integral_value())


class _Advance:
    """One step of the live system: everything it does lands in (previous max, previous max + days]."""

    def __init__(self, conn: sa.Connection, seed: int, previous: datetime, days: int) -> None:
        self.conn = conn
        self.lo_s = _to_s(previous)
        self.hi_s = self.lo_s + days * DAY
        self.days = days
        self.rng = np.random.default_rng([seed, self.lo_s, days])
        self.writer = _BulkWriter(conn, tune_sqlite=False)
        self.inserted: dict[str, list[int]] = {}
        self.updated: dict[str, list[int]] = {}

    # reading ---------------------------------------------------------------

    def _all(self, stmt: sa.Executable) -> list[sa.Row]:
        return list(self.conn.execute(stmt))

    def _next_id(self, table: sa.Table) -> int:
        return (self.conn.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0) + 1

    def _count_since(self, column: sa.Column, since_s: int) -> int:
        stmt = sa.select(sa.func.count()).where(column > _to_dt(since_s))
        return int(self.conn.execute(stmt).scalar() or 0)

    def _expected(self, column: sa.Column) -> float:
        """Rows expected in the new window at the rate of the last 28 days."""
        lookback = 28 * DAY
        _, recent = _window_mass(self.lo_s - lookback, self.lo_s)
        _, ahead = _window_mass(self.lo_s, self.hi_s)
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

    # the step --------------------------------------------------------------

    def run(self) -> None:
        self._load()
        book, changed_products = self._price_changes()
        new_customers, new_products = self._orders(book)
        self._tier_changes(exclude=new_customers)
        self._product_status(exclude=new_products | changed_products)
        self._progress_orders()
        self._interactions()
        self._new_customers()

    def _load(self) -> None:
        c, p = schema.customers, schema.products
        customers = self._all(sa.select(c).order_by(c.c.id))
        self.cust_ids = np.array([r.id for r in customers], dtype=np.int64)
        self.cust_roots = {int(r.cnpj[:8]) for r in customers}
        eligible = np.array(
            [
                r.status == "active" and r.deleted_at is None and _to_s(r.created_at) < self.lo_s
                for r in customers
            ]
        )
        tier = np.array([TIERS.index(r.tier) for r in customers], dtype=np.int64)
        warehouses = [
            (r.id, r.state) for r in self._all(sa.select(schema.warehouses).order_by(schema.warehouses.c.id))
        ]
        wh, dist = _warehouse_for_states([r.address_state for r in customers], warehouses)
        self.customers = _Customers(
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
        self.cust_state = {int(r.id): r for r in customers}
        counts = dict(
            self._all(sa.select(schema.orders.c.customer_id, sa.func.count()).group_by("customer_id"))
        )
        self.cust_activity = np.array([counts.get(int(i), 0) + 1.0 for i in self.cust_ids]) * eligible

        products = self._all(sa.select(p.c.id, p.c.status, p.c.unit_cost).order_by(p.c.id))
        self.prod_ids = np.array([r.id for r in products], dtype=np.int64)
        self.prod_active = np.array([r.status == "active" for r in products])
        self.unit_cost = np.array([_cents(r.unit_cost) for r in products], dtype=np.int64)
        sold = dict(
            self._all(sa.select(schema.order_items.c.product_id, sa.func.count()).group_by("product_id"))
        )
        self.popularity = np.array([sold.get(int(i), 0) + 1.0 for i in self.prod_ids]) * self.prod_active
        items, orders = (
            self.conn.execute(sa.select(sa.func.count()).select_from(t)).scalar() or 0
            for t in (schema.order_items, schema.orders)
        )
        self.avg_items = items / orders if orders else 5.0

    def _price_changes(self) -> tuple[_PriceBook, set[int]]:
        rng, pr = self.rng, schema.pricing
        n = len(self.prod_ids)
        pos = {int(pid): i for i, pid in enumerate(self.prod_ids.tolist())}
        prices = np.repeat(np.maximum(self.unit_cost * 14 // 10, 1)[:, None], 4, axis=1)
        has = np.zeros((n, 4), dtype=bool)
        current = self._all(sa.select(pr).where(pr.c.effective_to.is_(None)).order_by(pr.c.id))
        since = np.zeros(n, dtype=np.int64)
        for r in current:
            i, col = pos[r.product_id], 0 if r.customer_tier is None else TIERS.index(r.customer_tier)
            prices[i, col] = _cents(r.price)
            has[i, col] = True
            since[i] = max(since[i], _date_to_day(r.effective_from))
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
        new_prices[chosen] = _round_cents(prices[chosen] * ratio[:, None])
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
                    "effective_to": _to_dt(change_at[r.product_id]).date(),
                    "updated_at": _to_dt(change_at[r.product_id]),
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
                    [round(_cents(r.price) * ratio_of[r.product_id]) for r in closing], dtype=np.int64
                ),
                "effective_from": opened // DAY,
                "effective_to": np.full(len(closing), NULL),
                "created_at": opened,
                "updated_at": opened,
            },
        )
        # Orders see the same prices as the rows just written.
        for row_price, r in zip(
            [round(_cents(r.price) * ratio_of[r.product_id]) for r in closing], closing, strict=True
        ):
            col = 0 if r.customer_tier is None else TIERS.index(r.customer_tier)
            new_prices[pos[r.product_id], col] = row_price
        new_prices[:, 1:] = np.where(has[:, 1:], new_prices[:, 1:], new_prices[:, :1])
        book = _PriceBook(self.prod_ids, changes, np.stack([prices, new_prices], axis=1))
        return book, set(change_at)

    def _orders(self, book: _PriceBook) -> tuple[set[int], set[int]]:
        rng = self.rng
        n = int(rng.poisson(self._expected(schema.orders.c.created_at)))
        if n == 0 or self.cust_activity.sum() == 0 or self.popularity.sum() == 0:
            return set(), set()
        cust = rng.choice(len(self.cust_ids), n, p=self.cust_activity / self.cust_activity.sum())
        created = _sample_times(rng, self.lo_s, self.hi_s, n)
        order = np.lexsort((cust, created))
        cust, created = cust[order], created[order]
        orders, items = _build_orders(
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
            ch["last_updated"] = _to_dt(ch["last_updated"])
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
            updates.append({"id": int(self.cust_ids[i]), "tier": TIERS[new], "updated_at": _to_dt(at)})
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
        at = _to_dt(int(self._random_times(1)[0]))
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
        updated_s = np.array([_to_s(r.updated_at) for r in rows], dtype=np.int64)
        created_s = np.array([_to_s(r.created_at) for r in rows], dtype=np.int64)
        far = np.array([self.customers.distance[self._cust_pos(r.customer_id)] == 2 for r in rows])
        cum = _stage_times(rng, np.zeros(n, dtype=np.int64), far)
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
                    {"id": r.id, "status": status, "payment_status": pay, "updated_at": _to_dt(max(events))}
                )
        self._update(o, updates)

    def _cust_pos(self, customer_id: int) -> int:
        return int(np.searchsorted(self.cust_ids, customer_id))

    def _interactions(self) -> None:
        ci, rng = schema.customer_interactions, self.rng
        n = int(rng.poisson(self._expected(ci.c.interaction_date)))
        weight = self.cust_activity**0.6
        if n and weight.sum() > 0:
            cust = rng.choice(len(self.cust_ids), n, p=weight / weight.sum())
            at = _sample_times(rng, self.lo_s, self.hi_s, n, business_share=0.7)
            order = np.lexsort((cust, at))
            rows = _build_interactions(
                rng, self.cust_ids[cust[order]], at[order], self.hi_s, self._next_id(ci)
            )
            self._insert(ci, rows)
        inserted = set(self.inserted.get(ci.name, []))
        open_rows = self._all(
            sa.select(ci.c.id, ci.c.interaction_date)
            .where(ci.c.resolved.is_(False), ci.c.interaction_date > _to_dt(self.lo_s - 7 * DAY))
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
                minutes = (t - _to_s(r.interaction_date)) // 60 + 1
                done = _to_s(r.interaction_date) + minutes * 60
                updates.append(
                    {
                        "id": r.id,
                        "resolved": True,
                        "resolution_time_minutes": minutes,
                        "updated_at": _to_dt(done),
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
        rows = _customer_rows(rng, np.arange(first, first + n), created, self.cust_roots)
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


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m orchestration.demo.generator", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of the operational database")
    parser.add_argument(
        "--scale", default="demo", help="tiny, demo, or a multiplier of demo's history (e.g. 20)"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--end", type=datetime.fromisoformat, help="the data's 'now' (naive UTC, ISO format)")
    parser.add_argument(
        "--advance-days", type=int, help="advance existing data by N days (generating first if it is empty)"
    )
    args = parser.parse_args(argv)
    engine = sa.create_engine(args.url)
    try:
        schema.create_schema(engine)
        with engine.connect() as conn:
            empty = _max_timestamp(conn) is None
    finally:
        engine.dispose()
    if empty or args.advance_days is None:
        summary = generate(args.url, Scale.named(args.scale), seed=args.seed, end=args.end)
        print(f"generated {summary.url} up to {summary.end} in {summary.seconds}s: {summary.rows}")
    if args.advance_days:
        adv = advance(args.url, days=args.advance_days, seed=args.seed)
        print(
            f"advanced {adv.url} to {adv.end} in {adv.seconds}s: inserted {adv.rows}, updated {adv.updated_rows}"
        )


if __name__ == "__main__":
    main()
