"""The demo generator: realistic, internally consistent, deterministic on every backend."""

from __future__ import annotations

import hashlib
import itertools
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from orchestration.brazil import is_valid_cnpj, make_cnpj
from orchestration.demo import schema
from orchestration.demo.generator import Scale, advance, generate, main

END = datetime(2025, 6, 15, 14, 0, 0)


def _rows(url: str, table: sa.Table) -> list[sa.Row]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.select(table).order_by(table.c.id)))
    finally:
        engine.dispose()


def _fingerprint(url: str) -> dict[str, object]:
    """Row counts, a few business checksums and a hash of every table's content."""
    out: dict[str, object] = {}
    for table in schema.TABLES:
        rows = _rows(url, table)
        out[f"{table.name}.count"] = len(rows)
        out[f"{table.name}.sha"] = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
    out["orders.total"] = sum(r.total for r in _rows(url, schema.orders))
    out["customers.cnpj"] = hashlib.sha256(
        ",".join(sorted(r.cnpj for r in _rows(url, schema.customers))).encode()
    )
    out["customers.cnpj"] = out["customers.cnpj"].hexdigest()
    return out


@pytest.fixture(scope="module")
def tiny_sqlite(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('tiny') / 'ops.db'}"
    generate(url, Scale.tiny(), seed=42, end=END)
    return url


@pytest.fixture(scope="module")
def tiny_fingerprint(tiny_sqlite) -> dict[str, object]:
    return _fingerprint(tiny_sqlite)


def test_cnpj_check_digits_follow_mod_11():
    assert make_cnpj(11222333, 1) == "11222333000181"
    assert is_valid_cnpj("11.222.333/0001-81")
    assert is_valid_cnpj("60701190000104")
    assert not is_valid_cnpj("11222333000182")
    assert not is_valid_cnpj("1122233300018")
    assert not is_valid_cnpj("00000000000000")


def test_scales():
    assert Scale.named("tiny") == Scale.tiny()
    demo = Scale.named("demo")
    assert (demo.customers, demo.products, demo.orders, demo.months) == (2_000, 3_000, 100_000, 12)
    assert Scale.named("20").orders == 2_000_000
    assert demo.times(0.5).interactions == 15_000
    assert demo.times(0.5).customers == demo.customers
    with pytest.raises(ValueError, match="unknown scale"):
        Scale.named("huge")


def test_tiny_scale_row_counts(tiny_fingerprint):
    fp = tiny_fingerprint
    assert fp["customers.count"] == 60
    assert fp["products.count"] == 80
    assert fp["suppliers.count"] == 8
    assert fp["warehouses.count"] == 3
    assert fp["orders.count"] == 600
    assert 2_500 <= fp["order_items.count"] <= 3_500
    assert fp["customer_interactions.count"] == 300


def test_same_seed_gives_same_data_and_another_seed_does_not(tmp_path, tiny_fingerprint):
    again, other = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    generate(again, Scale.tiny(), seed=42, end=END)
    generate(other, Scale.tiny(), seed=7, end=END)
    assert _fingerprint(again) == tiny_fingerprint
    assert _fingerprint(other)["orders.sha"] != tiny_fingerprint["orders.sha"]


@pytest.mark.postgres
def test_postgres_holds_exactly_what_sqlite_holds(postgres_url, tiny_fingerprint):
    generate(postgres_url, Scale.tiny(), seed=42, end=END)
    assert _fingerprint(postgres_url) == tiny_fingerprint


@pytest.mark.mariadb
def test_mariadb_holds_exactly_what_sqlite_holds(mariadb_url, tiny_fingerprint):
    generate(mariadb_url, Scale.tiny(), seed=42, end=END)
    assert _fingerprint(mariadb_url) == tiny_fingerprint


def test_refuses_a_database_that_already_holds_data(tiny_sqlite):
    with pytest.raises(ValueError, match="already holds data"):
        generate(tiny_sqlite, Scale.tiny(), end=END)


def test_every_cnpj_is_valid_and_unique(tiny_sqlite):
    for table in (schema.customers, schema.suppliers):
        cnpjs = [r.cnpj for r in _rows(tiny_sqlite, table)]
        assert all(len(c) == 14 and c.isdigit() and is_valid_cnpj(c) for c in cnpjs), table.name
        assert len(set(cnpjs)) == len(cnpjs)


def _check_money(url: str) -> None:
    items_by_order = defaultdict(list)
    for item in _rows(url, schema.order_items):
        gross = item.quantity * item.unit_price
        assert item.quantity > 0
        assert Decimal(0) <= item.discount <= gross
        assert item.total == gross - item.discount + item.tax
        assert item.tax == ((gross - item.discount) * Decimal("0.12")).quantize(Decimal("0.01"))
        items_by_order[item.order_id].append(item)
    orders = _rows(url, schema.orders)
    assert set(items_by_order) == {o.id for o in orders}
    for o in orders:
        items = items_by_order[o.id]
        assert o.subtotal == sum(i.quantity * i.unit_price for i in items)
        assert o.discount == sum(i.discount for i in items)
        assert o.tax == sum(i.tax for i in items)
        assert o.total == o.subtotal - o.discount + o.tax + o.shipping_cost
        assert o.shipping_cost >= 0


def test_order_and_item_money_adds_up_to_the_cent(tiny_sqlite):
    _check_money(tiny_sqlite)


def _check_timestamps(url: str, end: datetime) -> None:
    for table in schema.TABLES:
        for r in _rows(url, table):
            if table is schema.inventory:
                assert r.last_updated <= end
                continue
            assert r.created_at <= r.updated_at <= end, (table.name, r.id)
            assert r.updated_at.microsecond == 0
            if "deleted_at" in table.c and r.deleted_at is not None:
                assert r.updated_at == r.deleted_at


def test_timestamps_are_ordered_and_never_after_end(tiny_sqlite):
    _check_timestamps(tiny_sqlite, END)
    for o in _rows(tiny_sqlite, schema.orders):
        assert o.order_date == o.created_at.date()


def _check_pricing(url: str) -> None:
    ranges = defaultdict(list)
    for p in _rows(url, schema.pricing):
        assert p.effective_to is None or p.effective_from < p.effective_to
        ranges[(p.product_id, p.customer_tier)].append((p.effective_from, p.effective_to or date.max))
    for key, spans in ranges.items():
        spans.sort()
        assert spans[-1][1] == date.max, key  # one range still in force
        for (_, end_a), (start_b, _) in itertools.pairwise(spans):
            assert end_a == start_b, key  # contiguous, half-open, no overlap


def test_pricing_ranges_do_not_overlap_and_some_prices_changed(tiny_sqlite):
    _check_pricing(tiny_sqlite)
    rows = _rows(tiny_sqlite, schema.pricing)
    assert any(p.effective_to is not None for p in rows)
    assert {p.customer_tier for p in rows} == {None, "silver", "gold", "platinum"}


def test_items_are_priced_at_the_customer_tier_price_in_force(tiny_sqlite):
    prices = defaultdict(list)
    for p in _rows(tiny_sqlite, schema.pricing):
        prices[(p.product_id, p.customer_tier)].append(p)
    tier = {c.id: c.tier for c in _rows(tiny_sqlite, schema.customers)}
    orders = {o.id: o for o in _rows(tiny_sqlite, schema.orders)}
    for item in _rows(tiny_sqlite, schema.order_items):
        order = orders[item.order_id]
        t = tier[order.customer_id]
        key = (item.product_id, None if t == "bronze" else t)
        (price,) = [
            p.price
            for p in prices[key]
            if p.effective_from <= order.order_date
            and (p.effective_to is None or order.order_date < p.effective_to)
        ]
        assert item.unit_price == price


def test_data_looks_like_a_brazilian_distributor(tiny_sqlite):
    customers = _rows(tiny_sqlite, schema.customers)
    assert all(c.phone.startswith("+55 ") for c in customers)
    assert all(len(c.address_zip) == 9 and c.address_zip[5] == "-" for c in customers)
    assert {c.address_state for c in customers} <= set(schema.BRAZIL_UF)
    assert {c.tier for c in customers} == set(schema.CUSTOMER_TIERS)
    assert any(c.deleted_at is not None for c in customers) or any(c.status != "active" for c in customers)
    products = _rows(tiny_sqlite, schema.products)
    assert all(len(p.regulatory_code) == 13 and p.regulatory_code.isdigit() for p in products)
    assert 0.25 <= sum(p.is_generic for p in products) / len(products) <= 0.55
    assert any(c.parent_id is not None for c in _rows(tiny_sqlite, schema.categories))
    orders = _rows(tiny_sqlite, schema.orders)
    cancelled = [o for o in orders if o.status == "cancelled"]
    assert 0.02 <= len(cancelled) / len(orders) <= 0.10
    assert all(o.payment_status in ("cancelled", "refunded") for o in cancelled)
    old = [o for o in orders if (END - o.created_at).days > 20 and o.status != "cancelled"]
    assert all(o.status == "delivered" for o in old)
    interactions = _rows(tiny_sqlite, schema.customer_interactions)
    assert all((i.resolution_time_minutes is None) == (not i.resolved) for i in interactions)
    assert 0.25 <= sum(i.agent_type == "ai" for i in interactions) / len(interactions) <= 0.55


def _cursor_rows(url: str, table: sa.Table, after: datetime) -> set[int]:
    column = table.c[schema.cursor_column(table)]
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(sa.select(table.c.id).where(column > after)).scalars())
    finally:
        engine.dispose()


def test_advance_changes_exactly_what_its_summary_says(tmp_path):
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    generate(url, Scale.tiny(), seed=42, end=END)
    max_ids = {t.name: max(r.id for r in _rows(url, t)) for t in schema.TABLES}
    summary = advance(url, days=2, seed=42)
    assert summary.previous_end <= END
    assert (summary.end - summary.previous_end).days == 2
    assert summary.rows["orders"] > 0 and summary.rows["order_items"] > 0
    assert summary.updated_rows["orders"] > 0 and summary.updated_rows["pricing"] > 0
    assert summary.updated_rows["customers"] >= 1 and summary.updated_rows["inventory"] > 0
    for table in schema.TABLES:
        inserted, updated = set(summary.inserted[table.name]), set(summary.updated[table.name])
        assert not inserted & updated
        assert all(i > max_ids[table.name] for i in inserted), table.name
        assert all(i <= max_ids[table.name] for i in updated), table.name
        # An incremental extraction on the change cursor sees exactly these rows.
        assert _cursor_rows(url, table, summary.previous_end) == inserted | updated, table.name
        cursor = schema.cursor_column(table)
        for r in _rows(url, table):
            if r.id in inserted | updated:
                assert summary.previous_end < getattr(r, cursor) <= summary.end
    _check_money(url)
    _check_pricing(url)
    _check_timestamps(url, summary.end)

    second = advance(url, days=1, seed=42)
    assert second.previous_end > summary.previous_end
    assert all(i > max(summary.inserted["orders"]) for i in second.inserted["orders"])


def test_advance_is_deterministic(tmp_path):
    urls = [f"sqlite:///{tmp_path / name}" for name in ("a.db", "b.db")]
    summaries = []
    for url in urls:
        generate(url, Scale.tiny(), seed=1, end=END)
        summaries.append(advance(url, days=1, seed=3))
    assert summaries[0].inserted == summaries[1].inserted
    assert summaries[0].updated == summaries[1].updated
    assert _fingerprint(urls[0]) == _fingerprint(urls[1])


def test_advance_refuses_an_empty_database(sqlite_url):
    with pytest.raises(ValueError, match="no demo data"):
        advance(sqlite_url)


def test_command_line_generates_then_advances(sqlite_url, capsys):
    main(["--url", sqlite_url, "--scale", "tiny", "--end", "2025-06-15T14:00:00", "--advance-days", "1"])
    out = capsys.readouterr().out
    assert "generated" in out and "advanced" in out
    assert len(_rows(sqlite_url, schema.customers)) >= 60
