"""Row builders shared by seeding and advancing: orders with their items, interactions, customers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from orchestration.brazil import make_cnpjs
from orchestration.demo import names, schema
from orchestration.demo.generator.common import (
    DAY,
    FREE_SHIPPING_CENTS,
    HOUR,
    NULL,
    ORDER_STAGES,
    TAX_PERCENT,
    Customers,
    PriceBook,
    pick_from,
    slug,
)
from orchestration.demo.generator.rhythm import STAPLE_SHARE, STAPLES


def tier_column(tier: np.ndarray) -> np.ndarray:
    return tier.astype(np.int64)  # bronze(0) -> list price column; silver/gold/platinum -> 1..3


def warehouse_for_states(states: Sequence[str], warehouses: Sequence[tuple[int, str]]) -> tuple[list, list]:
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


def stage_times(rng: np.random.Generator, base: np.ndarray, far: np.ndarray) -> np.ndarray:
    """Cumulative times of confirmed, processing, shipped, delivered after ``base`` ([n, 4])."""
    n = len(base)
    delays = np.empty((n, 4))
    delays[:, 0] = rng.lognormal(np.log(2 * HOUR), 0.8, n)
    delays[:, 1] = rng.lognormal(np.log(8 * HOUR), 0.6, n)
    delays[:, 2] = rng.lognormal(np.log(18 * HOUR), 0.5, n)
    delays[:, 3] = rng.lognormal(np.log(np.where(far, 4 * DAY, 2 * DAY)), 0.4, n)
    return base[:, None] + np.cumsum(delays, axis=1).astype(np.int64)


def build_orders(
    rng: np.random.Generator,
    customers: Customers,
    book: PriceBook,
    popularity: np.ndarray,
    list_cost: np.ndarray,
    cust: np.ndarray,
    created: np.ndarray,
    end_s: int,
    first_order_id: int,
    first_item_id: int,
    avg_items: float,
    regular: np.ndarray,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Orders (already sorted by ``created``) and their items, consistent to the cent.

    A ``regular`` order (the customer's reorder cycle, see rhythm.py) carries each of the
    customer's staples with probability STAPLE_SHARE; random lines make up the rest of the
    expected basket of ``avg_items`` lines.
    """
    n = len(cust)
    order_ids = np.arange(first_order_id, first_order_id + n, dtype=np.int64)
    tier = customers.tier[cust]

    # Items: the staples a regular order carries, then random lines by popularity (products
    # distinct within an order), then how much of each.
    reserved = np.full((n, STAPLES), -1, dtype=np.int64)
    if customers.staples is not None:
        reserved = customers.staples[cust]  # a customer buys its staples on regular orders only
    staples = np.where(regular[:, None], reserved, -1)
    has_staple = staples >= 0
    carried = has_staple & (rng.random((n, STAPLES)) < STAPLE_SHARE)
    lam = np.maximum(avg_items - 1.0 - STAPLE_SHARE * has_staple.sum(axis=1), 0.0) * rng.gamma(2.0, 0.5, n)
    n_random = 1 + rng.poisson(lam)
    staple_pos, staple_k = np.nonzero(carried)
    order_pos = np.concatenate([staple_pos, np.repeat(np.arange(n), n_random)])
    is_staple = np.arange(len(order_pos)) < len(staple_pos)
    cdf = np.cumsum(popularity) / popularity.sum()
    n_products = len(popularity)

    def draw(size: int) -> np.ndarray:
        return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), n_products - 1)

    product = np.concatenate([staples[staple_pos, staple_k], draw(len(order_pos) - len(staple_pos))])
    # Each order's staples first: a random line that repeats one is the one drawn again.
    by_order = np.lexsort((~is_staple, order_pos))
    order_pos, product = order_pos[by_order], product[by_order]
    keep = np.ones(len(order_pos), dtype=bool)
    is_staple = is_staple[by_order]
    for attempt in range(4):
        _, first = np.unique(order_pos * n_products + product, return_index=True)
        dup = np.ones(len(order_pos), dtype=bool)
        dup[first] = False
        dup |= ~is_staple & (product[:, None] == reserved[order_pos]).any(axis=1)
        if not dup.any():
            break
        if attempt == 3:
            keep = ~dup
        else:
            product[dup] = draw(int(dup.sum()))
    order_pos, product = order_pos[keep], product[keep]
    m = len(order_pos)
    item_day = created[order_pos] // DAY
    unit_price = book.unit_price(product, item_day, tier_column(tier[order_pos]))
    price_brl = np.maximum(list_cost[product] / 100.0, 0.5)
    q_mean = np.clip(60.0 / price_brl**0.6, 1.0, 40.0) * np.array([1.0, 1.3, 1.8, 2.5])[tier[order_pos]]
    # The price in force moves the expected quantity by the product's known elasticity.
    demand = book.demand_multiplier(product, item_day)
    # 1 + Poisson(mean - 1) keeps the expected quantity proportional to the multiplier.
    expected = (1.0 + q_mean * rng.gamma(2.0, 0.5, m)) * demand
    quantity = 1 + rng.poisson(np.maximum(expected - 1.0, 0.0))
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

    stages = stage_times(rng, created, distance == 2)
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


def build_interactions(
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


def customer_rows(
    rng: np.random.Generator, ids: np.ndarray, created: np.ndarray, taken_roots: set[int]
) -> dict[str, Any]:
    """Pharmacies: names, valid unique CNPJs, addresses spread over the UFs by population."""
    n = len(ids)
    ufs = names.UFS
    uf_idx = rng.choice(
        len(ufs), n, p=np.array([u.population_m for u in ufs]) / sum(u.population_m for u in ufs)
    )
    roots = unique_roots(rng, n, taken_roots)
    cnpjs = make_cnpjs(roots, 1)
    prefix = pick_from(rng, names.PHARMACY_PREFIXES, n)
    use_core = rng.random(n) < 0.7
    core = pick_from(rng, names.PHARMACY_CORES, n)
    surname = pick_from(rng, names.SURNAMES, n)
    surname2 = pick_from(rng, names.SURNAMES, n)
    first = pick_from(rng, names.FIRST_NAMES, n)
    street_type = pick_from(rng, names.STREET_TYPES, n)
    street = pick_from(rng, names.STREET_NAMES, n)
    number = rng.integers(10, 3_000, n).tolist()
    capital = rng.random(n) < 0.45
    city_pick = rng.random(n)
    domain = pick_from(rng, names.EMAIL_DOMAINS, n)
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
        rows["email"].append(f"{slug(name)}.{cnpjs[i][:4]}@{domain[i]}")
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


def unique_roots(rng: np.random.Generator, n: int, taken: set[int]) -> np.ndarray:
    roots: list[int] = []
    while len(roots) < n:
        for r in rng.integers(1_000_000, 99_999_999, 2 * (n - len(roots)) + 8).tolist():
            if r not in taken and len(roots) < n:
                taken.add(r)
                roots.append(r)
    return np.array(roots, dtype=np.int64)
