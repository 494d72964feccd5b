"""The full history, entity by entity: master data first, then prices, orders and interactions."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np

from orchestration.brazil import make_cnpjs
from orchestration.demo import names, schema
from orchestration.demo.generator.bulk import BulkWriter
from orchestration.demo.generator.common import (
    DAY,
    HOUR,
    INTERACTIONS_PER_CHUNK,
    NULL,
    ORDERS_PER_CHUNK,
    TIERS,
    Customers,
    PriceBook,
    date_to_day,
    pick_from,
    round_cents,
    sample_times,
    slug,
    to_dt,
    to_s,
    window_mass,
)
from orchestration.demo.generator.rhythm import regular_order_days, regular_order_times, staple_products
from orchestration.demo.generator.rows import (
    build_interactions,
    build_orders,
    customer_rows,
    unique_roots,
    warehouse_for_states,
)
from orchestration.demo.generator.scale import Scale


class Generation:
    def __init__(self, scale: Scale, seed: int, end: datetime) -> None:
        self.scale = scale
        self.seed = seed
        self.end_s = to_s(end)
        history_days = max(1, round(scale.months * 365.2425 / 12))
        self.start_s = (self.end_s // DAY - history_days) * DAY
        self.rng = np.random.default_rng(seed)
        self.roots: set[int] = set()

    def write(self, w: BulkWriter) -> None:
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

    def _categories(self, w: BulkWriter) -> None:
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

    def _suppliers(self, w: BulkWriter) -> None:
        rng, n = self.rng, self.scale.suppliers
        is_mfr = rng.random(n) < 0.75
        is_mfr[0] = True
        cores = [names.SUPPLIER_CORES[i] for i in rng.permutation(len(names.SUPPLIER_CORES))]
        cores = [
            cores[i % len(cores)] + ("" if i < len(cores) else f" {i // len(cores) + 1}") for i in range(n)
        ]
        forms_m = pick_from(rng, names.MANUFACTURER_FORMS, n)
        forms_d = pick_from(rng, names.DISTRIBUTOR_FORMS, n)
        first = pick_from(rng, names.FIRST_NAMES, n)
        last = pick_from(rng, names.SURNAMES, n)
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
                "cnpj": make_cnpjs(unique_roots(rng, n, self.roots), 1),
                "supplier_type": ["manufacturer" if m else "distributor" for m in is_mfr.tolist()],
                "contact_name": [f"{a} {b}" for a, b in zip(first, last, strict=True)],
                "contact_email": [f"comercial@{slug(c)}.com.br" for c in cores],
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

    def _warehouses(self, w: BulkWriter) -> None:
        chosen = names.DISTRIBUTION_CENTRES[
            : max(1, min(self.scale.warehouses, len(names.DISTRIBUTION_CENTRES)))
        ]
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

    def _customers(self, w: BulkWriter) -> None:
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
        rows = customer_rows(rng, np.arange(1, n + 1), created, self.roots)

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

        self.days, cum = window_mass(start, end, growth=0.2)
        first_day = self.days[0]
        lo = np.clip(created // DAY - first_day + 1, 0, len(self.days))
        hi = np.clip(stops // DAY - first_day, 0, len(self.days))
        hi = np.maximum(hi, lo)
        self.cust_lo, self.cust_hi = lo, hi
        mass = cum[hi] - cum[lo]
        self.order_weight = activity * mass
        self.interaction_weight = (activity**0.6) * mass

        wh, dist = warehouse_for_states(rows["address_state"], self.warehouse_states)
        self.customers = Customers(
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

    def _products(self, w: BulkWriter) -> None:
        rng, n = self.rng, self.scale.products
        variants = [
            (cat, ing, dosage, form) for cat, ing in self.category_of for dosage in ing[1] for form in ing[2]
        ]
        pick = rng.integers(0, len(variants), n)
        mfr = rng.choice(self.manufacturer_ids, n)
        generic = rng.random(n) < 0.4
        units = rng.choice(np.array(names.PACKAGE_SIZES_UNITS), n)
        liquid_pack = pick_from(rng, names.PACKAGE_SIZES_LIQUID, n)
        suffix = pick_from(rng, names.BRAND_SUFFIXES, n)
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
            brand = slug(brand)[:5].capitalize() + suffix[i]
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
        unit_cost = np.maximum(150, round_cents(cost * 100))
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

    def _inventory(self, w: BulkWriter) -> None:
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

    def _pricing(self, w: BulkWriter) -> None:
        rng, n = self.rng, self.scale.products
        first_day, last_day = self.start_s // DAY + 1, self.end_s // DAY
        aprils = [
            date_to_day(date(y, 4, 1))
            for y in range(to_dt(self.start_s).year, to_dt(self.end_s).year + 1)
            if first_day <= date_to_day(date(y, 4, 1)) <= last_day
        ]
        far = np.iinfo(np.int32).max
        # Commercial price moves (promotions, repricing) about once a month per product, on
        # top of the yearly CMED adjustment: enough variation for price elasticity to show.
        promo_slots = max(1, round((last_day - first_day + 1) / 30))
        k = len(aprils) + promo_slots
        changes = np.full((n, k), far, dtype=np.int64)
        for j, day in enumerate(aprils):  # the yearly CMED adjustment, on 1 April
            changes[rng.random(n) < 0.7, j] = day
        promo = rng.random((n, promo_slots)) < 0.7
        changes[:, len(aprils) :] = np.where(
            promo, rng.integers(first_day, last_day + 1, (n, promo_slots)), far
        )
        changes.sort(axis=1)
        changes = np.where(np.diff(changes, axis=1, prepend=-1) == 0, far, changes)  # same day twice
        changes.sort(axis=1)
        # CMED steps compound; a commercial move sets a new level around the adjusted price.
        is_april = np.isin(changes, aprils)
        april_step = np.where(is_april, rng.uniform(1.03, 1.10, (n, k)), 1.0)
        level = rng.uniform(0.75, 1.25, (n, k))
        promo_level = np.ones((n, k + 1))
        for j in range(k):
            promo_level[:, j + 1] = np.where(is_april[:, j], promo_level[:, j], level[:, j])
        factors = np.concatenate([np.ones((n, 1)), np.cumprod(april_step, axis=1)], axis=1) * promo_level
        list0 = self.unit_cost * rng.uniform(1.25, 1.6, n)
        tier_mult = np.array([1.0, 0.97, 0.94, 0.90]) * np.concatenate(
            [np.ones((n, 1)), rng.uniform(0.98, 1.0, (n, 3))], axis=1
        )
        prices = round_cents(list0[:, None, None] * factors[:, :, None] * tier_mult[:, None, :])

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
        self.book = PriceBook(np.arange(1, n + 1), changes, prices, self.unit_cost)
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

    def _orders(self, w: BulkWriter) -> None:
        """Each customer's regular orders on its reorder cycle (rhythm.py), then ad-hoc orders
        by activity up to the scale's count (only the regular ones when they alone exceed it)."""
        rng, n = self.rng, self.scale.orders
        self.customers.staples = staple_products(self.customers.ids, self.popularity > 0)
        first_day = self.days[0]
        cycle_cust, cycle_day = regular_order_days(
            self.customers.ids, first_day + self.cust_lo, first_day + self.cust_hi
        )
        if len(cycle_cust) > n:
            kept = np.sort(rng.choice(len(cycle_cust), n, replace=False))
            cycle_cust, cycle_day = cycle_cust[kept], cycle_day[kept]
        cycle_created = regular_order_times(rng, cycle_day, self.start_s, self.end_s)
        weight = self.order_weight
        extra = n - len(cycle_cust)
        adhoc_cust = rng.choice(len(weight), extra, p=weight / weight.sum())
        adhoc_created = sample_times(
            rng,
            self.start_s,
            self.end_s,
            extra,
            row_lo=self.cust_lo[adhoc_cust],
            row_hi=self.cust_hi[adhoc_cust],
            growth=0.2,
        )
        cust = np.concatenate([cycle_cust, adhoc_cust])
        created = np.concatenate([cycle_created, adhoc_created])
        regular = np.arange(n) < len(cycle_cust)
        order = np.lexsort((~regular, cust, created))
        cust, created, regular = cust[order], created[order], regular[order]
        next_item = 1
        for lo in range(0, n, ORDERS_PER_CHUNK):
            hi = min(n, lo + ORDERS_PER_CHUNK)
            orders, items = build_orders(
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
                regular[lo:hi],
            )
            w.write(schema.orders, orders)
            w.write(schema.order_items, items)
            next_item += len(items["id"])

    def _interactions(self, w: BulkWriter) -> None:
        rng, n = self.rng, self.scale.interactions
        weight = self.interaction_weight
        cust = rng.choice(len(weight), n, p=weight / weight.sum())
        at = sample_times(
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
            rows = build_interactions(rng, self.customers.ids[cust[lo:hi]], at[lo:hi], self.end_s, lo + 1)
            w.write(schema.customer_interactions, rows)
