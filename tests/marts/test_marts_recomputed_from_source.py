"""Marts recomputed independently from the source databases (issue #15, the audit's findings).

One real warehouse for the package (tests/marts/conftest.py): the tiny demo's operational
database (SQLite) extracted and built by the ``daily_full_build`` job, then the Marketo sandbox
extracted with its dbt models. Every
expected figure is computed here with plain SQL on the SOURCE (the operational SQLite file, and
the sandbox's Marketo records loaded into SQLite next to it), never with the models' SQL or
macros, and compared with the marts.
"""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
from dataclasses import dataclass

import pytest
from dateutil.easter import easter

from tests.marketo.test_marketo_pipeline import FIRST_DAY, LAST_DAY
from tests.marts.built import Built, close, rows
from tests.pipeline.conftest import AS_OF_DATE

pytestmark = pytest.mark.slow

AS_OF = dt.date.fromisoformat(AS_OF_DATE)
WINDOW_DAYS = 90  # var('inventory_snapshot_days'): the default the job runs with


# Non-cancelled lines of orders dated in the window (as_of - 90 days, as_of], per product x warehouse.
SOURCE_WINDOW_SALES = """
select i.product_id, o.warehouse_id, sum(i.quantity) as units, sum(i.quantity * p.unit_cost) as cost
from order_items i
join orders o on o.id = i.order_id
join products p on p.id = i.product_id
where o.status <> 'cancelled' and o.order_date > date(?, '-90 days') and o.order_date <= ?
group by i.product_id, o.warehouse_id
"""


def source_inventory(con: sqlite3.Connection) -> tuple[dt.date, dict[tuple[int, int], int]]:
    """(first fully observed day, on-hand units per product x warehouse). The source holds one
    row per position; after one extraction that row is the only version the warehouse has, so
    it is the position on every day from the day the last of them was updated."""
    (latest,) = con.execute("select max(last_updated) from inventory").fetchone()
    on_hand = {
        (p, w): q
        for p, w, q in rows(
            con, "select product_id, warehouse_id, quantity_available + quantity_reserved from inventory"
        )
    }
    return dt.date.fromisoformat(latest[:10]), on_hand


def test_inventory_snapshots_hold_only_fully_observed_days(built: Built) -> None:
    with built.source() as src:
        first_day, on_hand = source_inventory(src)
    with built.marts() as con:
        days = rows(
            con,
            "select snapshot_date, count(*), sum(quantity_on_hand) from marts.fact_inventory_snapshots "
            "group by snapshot_date order by snapshot_date",
        )
    assert days, "the snapshot fact holds at least the as-of day"
    assert days[0][0] == first_day
    assert days[-1][0] == AS_OF
    assert len(days) == (AS_OF - first_day).days + 1
    # Every day shows every position: no day before a position was observed shows a partial picture.
    for snapshot_date, positions, stock in days:
        assert (positions, stock) == (len(on_hand), sum(on_hand.values())), snapshot_date


def test_inventory_movements_open_every_source_position_at_its_stock(built: Built) -> None:
    """Cursor mode, one extraction: each source position is one opening movement from zero to
    its stock, at its last_updated, read as an image."""
    with built.source() as src:
        expected = {
            (i, p, w): (a, r, n, a + r, dt.datetime.fromisoformat(u))
            for i, p, w, a, r, n, u in rows(
                src,
                "select id, product_id, warehouse_id, quantity_available, quantity_reserved, "
                "quantity_incoming, last_updated from inventory",
            )
        }
    with built.marts() as con:
        movements = rows(
            con,
            "select inventory_id, product_id, warehouse_id, movement_sequence, movement_type, captured_by, "
            "quantity_available_change, quantity_reserved_change, quantity_incoming_change, "
            "quantity_on_hand_change, moved_at from marts.fact_inventory_movements",
        )
    assert {
        (i, p, w): (a, r, n, h, moved)
        for i, p, w, seq, kind, by, a, r, n, h, moved in movements
        if (seq, kind, by) == (1, "opening", "extraction")
    } == expected
    assert len(movements) == len(expected)


def test_inventory_turnover_keeps_sales_without_an_inventory_position(built: Built) -> None:
    with built.source() as src:
        _, on_hand = source_inventory(src)
        sales = {(p, w): (u, c) for p, w, u, c in rows(src, SOURCE_WINDOW_SALES, (AS_OF_DATE, AS_OF_DATE))}
    with built.marts() as con:
        mart = {
            (p, w): (units, cogs)
            for p, w, units, cogs in rows(
                con, "select product_id, warehouse_id, units_sold, cogs_amount from marts.inventory_turnover"
            )
        }
    unstocked = set(sales) - set(on_hand)
    assert unstocked, "the tiny demo sells some products from warehouses without a position"
    assert sum(units for units, _ in mart.values()) == sum(units for units, _ in sales.values())
    assert set(mart) == set(on_hand) | set(sales)
    for key, (units, cogs) in mart.items():
        exp_units, exp_cost = sales.get(key, (0, 0.0))
        assert units == exp_units and close(cogs, exp_cost), key
    with built.marts() as con:
        flags = {
            (r[0], r[1]): r[2:]
            for r in rows(
                con,
                "select product_id, warehouse_id, has_inventory_position, days_observed, avg_quantity_on_hand, "
                "annualized_turnover, days_of_inventory, window_days from marts.inventory_turnover",
            )
        }
    for key, (has_position, observed, avg_stock, annualized, days_inv, window) in flags.items():
        assert has_position == (key in on_hand) and window == WINDOW_DAYS, key
        if key in unstocked:
            assert (observed, avg_stock, annualized, days_inv) == (0, None, None, None), key


def test_inventory_turnover_annualises_over_the_sales_window(built: Built) -> None:
    with built.source() as src:
        first_day, on_hand = source_inventory(src)
        sales = {(p, w): u for p, w, u, _ in rows(src, SOURCE_WINDOW_SALES, (AS_OF_DATE, AS_OF_DATE))}
    with built.marts() as con:
        mart = {
            (r[0], r[1]): r[2:]
            for r in rows(
                con,
                "select product_id, warehouse_id, days_observed, avg_quantity_on_hand, turnover_ratio, "
                "annualized_turnover, days_of_inventory from marts.inventory_turnover",
            )
        }
    assert set(on_hand) <= set(mart)
    for key, stock in on_hand.items():
        observed, avg_stock, turnover, annualized, days_inv = mart[key]
        units = sales.get(key, 0)
        assert close(avg_stock, stock), key
        assert close(turnover, units / stock if stock else None), key
        assert close(annualized, units / stock * 365 / WINDOW_DAYS if stock else None), (key, annualized)
        assert close(days_inv, stock * WINDOW_DAYS / units if units and stock else None), (key, days_inv)
        assert observed == (AS_OF - first_day).days + 1, key


def test_product_days_of_supply_agrees_with_inventory_turnover(built: Built) -> None:
    with built.source() as src:
        _, on_hand = source_inventory(src)
        sales = rows(src, SOURCE_WINDOW_SALES, (AS_OF_DATE, AS_OF_DATE))
    stock_by_product: dict[int, int] = {}
    for (product, _), stock in on_hand.items():
        stock_by_product[product] = stock_by_product.get(product, 0) + stock
    units_by_product: dict[int, int] = {}
    for product, _, units, _ in sales:
        units_by_product[product] = units_by_product.get(product, 0) + units
    with built.marts() as con:
        mart = dict(rows(con, "select product_id, days_of_supply from marts.product_performance"))
        turnover = dict(
            rows(
                con,
                f"select product_id, sum(avg_quantity_on_hand) * {WINDOW_DAYS} / nullif(sum(units_sold), 0) "
                "from marts.inventory_turnover group by product_id",
            )
        )
    for product, days in mart.items():
        units, stock = units_by_product.get(product, 0), stock_by_product.get(product)
        expected = stock * WINDOW_DAYS / units if units and stock is not None else None
        assert close(days, expected), product
        assert close(days, turnover.get(product)), product


# Net revenue = gross - discount (net of tax); margin = net revenue - cost; rate = margin / net revenue.
SOURCE_PRODUCT_MARGINS = """
select i.product_id,
    sum(i.quantity * i.unit_price - i.discount) as net_revenue,
    sum(i.quantity * i.unit_price - i.discount - i.quantity * p.unit_cost) as margin
from order_items i join orders o on o.id = i.order_id join products p on p.id = i.product_id
where o.status <> 'cancelled' and o.order_date <= ?
group by i.product_id
"""
SOURCE_SUPPLIER_MARGINS = """
select p.manufacturer_id,
    sum(i.quantity * i.unit_price - i.discount) as net_revenue,
    sum(i.quantity * i.unit_price - i.discount - i.quantity * p.unit_cost) as margin
from order_items i join orders o on o.id = i.order_id join products p on p.id = i.product_id
where o.status <> 'cancelled' and o.order_date <= ?
group by p.manufacturer_id
"""
SOURCE_CUSTOMER_MARGINS = """
select o.customer_id,
    sum(i.total) as revenue_including_tax,
    sum(i.quantity * i.unit_price - i.discount) as net_revenue,
    sum(i.quantity * i.unit_price - i.discount - i.quantity * p.unit_cost) as margin
from order_items i join orders o on o.id = i.order_id join products p on p.id = i.product_id
where o.status <> 'cancelled' and o.order_date <= ?
group by o.customer_id
"""


def test_every_mart_follows_the_revenue_and_margin_definitions(built: Built) -> None:
    with built.source() as src:
        products = {r[0]: r[1:] for r in rows(src, SOURCE_PRODUCT_MARGINS, (AS_OF_DATE,))}
        suppliers = {r[0]: r[1:] for r in rows(src, SOURCE_SUPPLIER_MARGINS, (AS_OF_DATE,))}
        customers = {r[0]: r[1:] for r in rows(src, SOURCE_CUSTOMER_MARGINS, (AS_OF_DATE,))}
    with built.marts() as con:
        product_mart = {
            r[0]: r[1:]
            for r in rows(
                con,
                "select product_id, net_revenue, margin_amount, margin_pct from marts.product_performance where orders_count > 0",
            )
        }
        supplier_mart = {
            r[0]: r[1:]
            for r in rows(
                con,
                "select supplier_id, net_revenue, margin_amount, margin_pct from marts.supplier_performance where units_sold > 0",
            )
        }
        clv = {
            r[0]: r[1:]
            for r in rows(
                con,
                "select customer_id, historical_clv, historical_margin, margin_rate from marts.customer_lifetime_value",
            )
        }
        monthly = con.execute(
            "select sum(net_revenue), sum(margin_amount) from marts.revenue_margin_monthly"
        ).fetchone()
    for label, mart, source in (("product", product_mart, products), ("supplier", supplier_mart, suppliers)):
        assert set(mart) == set(source), label
        for key, (net, margin, rate) in mart.items():
            exp_net, exp_margin = source[key]
            assert close(net, exp_net, 1e-6) and close(margin, exp_margin, 1e-6), (label, key)
            assert close(rate, exp_margin / exp_net), (label, key)
    assert set(clv) == set(customers)
    for customer, (revenue, margin, rate) in clv.items():
        exp_revenue, exp_net, exp_margin = customers[customer]
        assert close(revenue, exp_revenue, 1e-6) and close(margin, exp_margin, 1e-6), customer
        assert close(rate, exp_margin / exp_net if exp_net else 0), customer
    assert close(monthly[0], sum(n for n, _ in products.values()), 1e-6)
    assert close(monthly[1], sum(m for _, m in products.values()), 1e-6)


MONEY_COLUMNS = (
    "gross_amount", "discount_amount", "tax_amount", "net_amount", "net_revenue", "cost_amount", "cogs_amount",
    "margin_amount", "margin_pct", "margin_rate", "total_revenue", "total_margin", "revenue_last_90d",
    "revenue_prev_90d", "avg_order_value", "historical_clv", "historical_margin", "predicted_clv",
    "monetary", "cancelled_amount",
)  # fmt: skip


def test_every_mart_revenue_column_carries_the_one_definition(manifest: dict) -> None:
    blocks = [d for d in manifest["docs"].values() if d["name"] == "revenue_definitions"]
    assert len(blocks) == 1, "one doc block holds the revenue and margin definitions"
    text = blocks[0]["block_contents"].strip()
    assert "Net revenue = gross revenue - discounts: net of tax" in text
    assert "Margin rate = margin / net revenue" in text
    checked = []
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or "marts" not in node["fqn"]:
            continue
        for name, column in node["columns"].items():
            if name in MONEY_COLUMNS:
                checked.append((node["name"], name))
                assert text in column["description"], (node["name"], name)
    assert len(checked) >= 30


def test_marketing_programs_engaged_counts_only_programs_that_reached_the_customer(built: Built) -> None:
    # A lead belongs to the customer with its e-mail (lower-cased, trimmed; lowest id on a tie);
    # an e-mail activity belongs to the program its name starts with ("<program>.<e-mail>");
    # reached = delivered (7), opened (10) or clicked (11); a send (6) is not.
    sql = """
    with customer_of as (
        select l.id as lead_id, min(c.id) as customer_id
        from mkto_leads l join customers c on lower(trim(c.email)) = lower(trim(l.email))
        where trim(coalesce(l.email, '')) <> ''
        group by l.id
    ),
    reached as (
        select distinct customer_of.customer_id, (
            select p.id from mkto_programs p
            where substr(a.primary_attribute_value, 1, length(p.name) + 1) = p.name || '.'
            order by length(p.name) desc, p.id limit 1
        ) as program_id
        from mkto_activities a join customer_of on customer_of.lead_id = a.lead_id
        where a.type_id in (7, 10, 11) and a.activity_date between ? and ?
    )
    select c.id, count(distinct reached.program_id)
    from customers c left join reached on reached.customer_id = c.id
    group by c.id
    """
    with built.source() as src:
        expected = dict(rows(src, sql, (FIRST_DAY.isoformat(), min(LAST_DAY, AS_OF).isoformat())))
        sent_only = rows(
            src,
            "select count(*) from mkto_activities where type_id = 6 and activity_date between ? and ?",
            (FIRST_DAY.isoformat(), LAST_DAY.isoformat()),
        )[0][0]
    with built.marts() as con:
        mart = dict(rows(con, "select customer_id, marketing_programs_engaged from marts.customer_360"))
    assert sent_only > 0, "the sandbox sends e-mails that were not delivered"
    assert any(expected.values())
    assert mart == expected


def test_dim_date_flags_brazil_movable_holidays(built: Built) -> None:
    with built.marts() as con:
        national = dict(rows(con, "select date_day, is_holiday from marts.dim_date"))
    assert national[dt.date(2026, 4, 3)], "Good Friday 2026 is a national holiday"
    with built.marts() as con:
        calendar = {
            r[0]: r[1:]
            for r in rows(
                con, "select date_day, is_holiday, is_optional_holiday, holiday_name from marts.dim_date"
            )
        }
    years = sorted({day.year for day in calendar})
    assert AS_OF.year in years
    # The movable dates of 2026, as published (Carnaval 16-17 Feb, Good Friday 3 Apr, Corpus Christi 4 Jun).
    assert calendar[dt.date(2026, 2, 16)][:2] == (False, True)
    assert calendar[dt.date(2026, 2, 17)][:2] == (False, True)
    assert calendar[dt.date(2026, 4, 3)] == (True, False, "Sexta-feira Santa")
    assert calendar[dt.date(2026, 6, 4)] == (False, True, "Corpus Christi")
    for year in years:
        sunday = easter(year)
        national = {sunday - dt.timedelta(days=2)}
        optional = {sunday + dt.timedelta(days=d) for d in (-48, -47, 60)}
        for day, (is_holiday, is_optional, name) in calendar.items():
            if day.year != year:
                continue
            assert is_optional == (day in optional), day
            if day in national:
                assert is_holiday and name == "Sexta-feira Santa", day
            assert not (is_holiday and is_optional), day
            assert (name is not None) == (is_holiday or is_optional), day


SOURCE_CUSTOMER_ORDERS = """
select o.customer_id, count(*), min(o.order_date), max(o.order_date)
from orders o
where o.status <> 'cancelled' and o.order_date <= ?
group by o.customer_id
"""
SOURCE_CUSTOMER_CATEGORIES = """
select o.customer_id, c.name, sum(round(i.quantity * i.unit_price, 2) - i.discount)
from order_items i
join orders o on o.id = i.order_id
join products p on p.id = i.product_id
join categories c on c.id = p.category_id
where o.status <> 'cancelled' and o.order_date <= ?
group by o.customer_id, c.name
"""


def test_customer_360_predicts_the_next_order_from_the_customer_rhythm(built: Built) -> None:
    expected: dict[int, dt.date | None] = {}
    with built.source() as src:
        for customer, orders, first, last in rows(src, SOURCE_CUSTOMER_ORDERS, (AS_OF_DATE,)):
            first_day, last_day = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
            if orders < 2:
                expected[customer] = None
                continue
            gap = (last_day - first_day).days / (orders - 1)
            expected[customer] = last_day + dt.timedelta(days=int(gap + 0.5))  # half away from zero
    with built.marts() as con:
        mart = dict(rows(con, "select customer_id, predicted_next_order_date from marts.customer_360"))
    assert any(expected.values())
    assert {c: d for c, d in mart.items() if c in expected} == expected
    assert all(mart[c] is None for c in set(mart) - set(expected))  # no order, no prediction


def test_customer_360_names_the_top_categories_by_net_revenue(built: Built) -> None:
    by_customer: dict[int, list[tuple[float, str]]] = {}
    with built.source() as src:
        for customer, category, net in rows(src, SOURCE_CUSTOMER_CATEGORIES, (AS_OF_DATE,)):
            by_customer.setdefault(customer, []).append((round(net, 2), category))
    expected = {}
    for customer, categories in by_customer.items():
        ranked = sorted(categories, key=lambda c: (-c[0], c[1]))
        total = sum(net for net, _ in categories)
        expected[customer] = (
            ranked[0][1],
            ", ".join(name for _, name in ranked[:3]),
            ranked[0][0] / total if total else None,
        )
    with built.marts() as con:
        mart = {
            r[0]: r[1:]
            for r in rows(
                con,
                "select customer_id, top_category_name, top_categories, top_category_revenue_share "
                "from marts.customer_360",
            )
        }
    assert expected
    for customer, (top, top3, share) in mart.items():
        if customer not in expected:
            assert (top, top3, share) == (None, None, None), customer
            continue
        exp_top, exp_top3, exp_share = expected[customer]
        assert (top, top3) == (exp_top, exp_top3), customer
        assert close(share, exp_share), customer


# Non-cancelled lines with the list price in force on the order date (list rows: customer_tier null).
SOURCE_PRICE_POINTS = """
select i.product_id, p.category_id, lp.price, count(*), sum(i.quantity)
from order_items i
join orders o on o.id = i.order_id
join products p on p.id = i.product_id
join pricing lp on lp.product_id = i.product_id and lp.customer_tier is null
    and lp.effective_from <= o.order_date and (lp.effective_to is null or lp.effective_to > o.order_date)
where o.status <> 'cancelled' and o.order_date <= ? and lp.price > 0
group by i.product_id, p.category_id, lp.price
"""


@dataclass
class Fit:
    """A weighted least-squares fit of ln(quantity per line) on ln(list price), from sums."""

    lines: int = 0
    points: int = 0
    sxy: float = 0.0  # sum over lines of (x - mean x)(y - mean y), and so on
    sxx: float = 0.0
    syy: float = 0.0

    @classmethod
    def of(cls, points: list[tuple[float, int, int]]) -> Fit:
        """``points``: (price, lines, units)."""
        xs = [(math.log(price), math.log(units / lines), lines) for price, lines, units in points]
        n = sum(w for _, _, w in xs)
        mx = sum(x * w for x, _, w in xs) / n
        my = sum(y * w for _, y, w in xs) / n
        return cls(
            lines=n,
            points=len(xs),
            sxy=sum(w * (x - mx) * (y - my) for x, y, w in xs),
            sxx=sum(w * (x - mx) ** 2 for x, _, w in xs),
            syy=sum(w * (y - my) ** 2 for _, y, w in xs),
        )

    def slope(self) -> float | None:
        return self.sxy / self.sxx if self.sxx > 1e-15 else None

    def r_squared(self) -> float | None:
        if self.sxx <= 1e-15:
            return None
        return self.sxy**2 / (self.sxx * self.syy) if self.syy > 1e-15 else 1.0

    def std_error(self, dof: int) -> float | None:
        slope = self.slope()
        if slope is None or dof <= 0:
            return None
        return (max(self.syy - slope * self.sxy, 0.0) / (self.sxx * dof)) ** 0.5


def test_price_elasticity_is_the_log_log_slope_across_price_points(built: Built) -> None:
    points: dict[int, list[tuple[float, int, int]]] = {}
    category_of: dict[int, int] = {}
    with built.source() as src:
        for product, category, price, lines, units in rows(src, SOURCE_PRICE_POINTS, (AS_OF_DATE,)):
            points.setdefault(product, []).append((price, lines, units))
            category_of[product] = category
    fits = {product: Fit.of(p) for product, p in points.items()}
    with built.marts() as con:
        mart = {
            r[0]: r[1:]
            for r in rows(
                con,
                "select product_id, category_id, order_lines, units_sold, price_points, price_changes, "
                "price_elasticity, r_squared, std_error, is_confident from marts.price_elasticity",
            )
        }
        by_category = {
            r[0]: r[1:]
            for r in rows(
                con,
                "select category_id, products_count, products_with_price_changes, order_lines, price_changes, "
                "price_elasticity, r_squared, std_error from marts.price_elasticity_by_category",
            )
        }
    assert set(mart) == set(fits)
    assert sum(1 for f in fits.values() if f.points >= 3) >= 10, "the tiny demo's prices change"
    for product, (category, lines, units, n_points, changes, slope, r2, se, confident) in mart.items():
        fit = fits[product]
        exp_se = fit.std_error(fit.points - 2)
        assert category == category_of[product], product
        assert (lines, units) == (fit.lines, sum(u for _, _, u in points[product])), product
        assert (n_points, changes) == (fit.points, fit.points - 1), product
        assert close(slope, fit.slope(), 1e-4), (product, slope, fit.slope())
        assert close(r2, fit.r_squared(), 1e-4), (product, r2, fit.r_squared())
        assert close(se, exp_se, 1e-4), (product, se, exp_se)
        assert confident == (changes >= 3 and lines >= 30 and exp_se is not None and exp_se <= 0.5), product
    # A category pools its products' deviations from their own means (fixed effects).
    pooled: dict[int, list[Fit]] = {}
    for product, fit in fits.items():
        pooled.setdefault(category_of[product], []).append(fit)
    assert set(by_category) == set(pooled)
    for category, (products, with_changes, lines, changes, slope, r2, se) in by_category.items():
        members = pooled[category]
        total = Fit(
            lines=sum(f.lines for f in members),
            points=sum(f.points for f in members),
            sxy=sum(f.sxy for f in members),
            sxx=sum(f.sxx for f in members),
            syy=sum(f.syy for f in members),
        )
        assert (products, with_changes) == (len(members), sum(1 for f in members if f.points > 1)), category
        assert (lines, changes) == (total.lines, total.points - len(members)), category
        assert close(slope, total.slope(), 1e-4), category
        assert close(r2, total.r_squared(), 1e-4), category
        assert close(se, total.std_error(total.points - len(members) - 1), 1e-4), category
