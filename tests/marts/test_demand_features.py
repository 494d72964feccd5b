"""demand_features recomputed from the source, and no feature of a day reads a later day.

The warehouse is the package's tiny demo build (tests/marts/conftest.py). The recomputation uses
plain SQL on the operational SQLite file and Python for the lags and rolling figures; the
calendar's holidays come from dim_date, which test_marts_recomputed_from_source.py checks
against Easter. The look-ahead test copies the warehouse, changes everything after a day D
(quantities, prices paid, cancelled lines, stock, the price list) and rebuilds only
demand_features there: every row up to D must be the same, and rows after D must move.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest

from orchestration.resources.dbt import dbt_executable
from orchestration.settings import DBT_PROJECT_DIR
from tests.marts.built import Built, close, rows
from tests.marts.test_marts_recomputed_from_source import AS_OF, source_inventory
from tests.pipeline.conftest import AS_OF_DATE

pytestmark = pytest.mark.slow

FEATURE_DAYS = 120  # var('demand_features_days')
WINDOW_START = AS_OF - dt.timedelta(days=FEATURE_DAYS - 1)
HISTORY_START = WINDOW_START - dt.timedelta(days=28)

SOURCE_DAILY_SALES = """
select i.product_id, o.warehouse_id, o.order_date, sum(i.quantity), count(distinct o.id),
    count(distinct o.customer_id), sum(round(i.quantity * i.unit_price, 2)), sum(i.discount)
from order_items i
join orders o on o.id = i.order_id
where o.status <> 'cancelled' and o.order_date <= ?
group by i.product_id, o.warehouse_id, o.order_date
"""
SOURCE_LIST_PRICES = """
select product_id, price, effective_from, effective_to from pricing where customer_tier is null
"""
FEATURES = (
    "product_id, warehouse_id, date_day, units_sold, orders_count, customers_count, list_price, "
    "avg_price_paid, discount_share, quantity_available, is_out_of_stock, day_of_week_iso, month_number, "
    "is_holiday, is_optional_holiday, days_to_next_holiday, days_since_last_holiday, units_lag_1, units_lag_7, "
    "units_lag_14, units_lag_28, units_mean_7d, units_stddev_7d, units_mean_28d, units_stddev_28d"
)


def day(value: str | dt.date) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value[:10])


def cents(value: float) -> Decimal:
    return Decimal(str(round(value, 2)))


def half_up(value: Decimal, places: str) -> Decimal:
    """Rounded as the warehouse rounds a decimal: half away from zero."""
    return value.quantize(Decimal(places), rounding=ROUND_HALF_UP)


def expected_features(built: Built) -> dict[tuple[int, int, dt.date], tuple]:
    with built.source() as src:
        sales = {(p, w, day(d)): rest for p, w, d, *rest in rows(src, SOURCE_DAILY_SALES, (AS_OF_DATE,))}
        prices = [
            (p, price, day(f), day(t) if t else None) for p, price, f, t in rows(src, SOURCE_LIST_PRICES)
        ]
        stock_from, on_hand = source_inventory(src)
        available = dict(
            ((p, w), q)
            for p, w, q in rows(src, "select product_id, warehouse_id, quantity_available from inventory")
        )
    with built.marts() as con:
        calendar = {
            r[0]: r[1:]
            for r in rows(con, "select date_day, is_holiday, is_optional_holiday from marts.dim_date")
        }
    holidays = sorted(d for d, (national, optional) in calendar.items() if national or optional)
    first: dict[tuple[int, int], dt.date] = {}
    for p, w, d in sales:
        first[(p, w)] = min(first.get((p, w), d), d)
    for pair in on_hand:
        first[pair] = min(first.get(pair, stock_from), stock_from)

    def units(p: int, w: int, d: dt.date) -> int:
        return sales[(p, w, d)][0] if (p, w, d) in sales else 0

    expected = {}
    for (p, w), since in first.items():
        d = max(since, WINDOW_START)
        while d <= AS_OF:
            before = [units(p, w, d - dt.timedelta(days=k)) for k in range(1, 29)]  # before[0] = yesterday
            n, orders, customers, gross, discount = sales.get((p, w, d), (0, 0, 0, None, None))
            in_force = [(f, price) for q, price, f, t in prices if q == p and f <= d and (t is None or t > d)]
            stock = available[(p, w)] if (p, w) in on_hand and d >= stock_from else None
            national, optional = calendar[d]
            following = [h for h in holidays if h >= d]
            preceding = [h for h in holidays if h <= d]
            expected[(p, w, d)] = (
                n, orders, customers,
                cents(max(in_force)[1]) if in_force else None,
                half_up(cents(gross) / n, "0.01") if n else None,
                half_up(cents(discount) / cents(gross), "0.0001") if gross else None,
                stock, None if stock is None else stock <= 0,
                d.isoweekday(), d.month, national, optional,
                (following[0] - d).days if following else None,
                (d - preceding[-1]).days if preceding else None,
                before[0], before[6], before[13], before[27],
                statistics.fmean(before[:7]), statistics.stdev(before[:7]),
                statistics.fmean(before), statistics.stdev(before),
            )  # fmt: skip
            d += dt.timedelta(days=1)
    return expected


def test_demand_features_recomputed_from_source(built: Built) -> None:
    expected = expected_features(built)
    with built.marts() as con:
        mart = {(r[0], r[1], r[2]): r[3:] for r in rows(con, f"select {FEATURES} from marts.demand_features")}
    assert len(mart) == len(expected) and set(mart) == set(expected)
    assert sum(1 for e in expected.values() if e[0]) > 500, "the tiny demo sells on many pair-days"
    assert any(e[10] or e[11] for e in expected.values()), "the window holds a holiday"
    for key, row in mart.items():
        for column, got, exp in zip(FEATURES.split(", ")[3:], row, expected[key], strict=True):
            if isinstance(exp, float):
                assert close(got, exp, 1e-4), (key, column, got, exp)
            elif column == "discount_share" and exp is not None:
                # A quotient: DuckDB divides decimals in floating point, so a half may round down.
                assert abs(got - exp) <= Decimal(1).scaleb(exp.as_tuple().exponent), (key, column, got, exp)
            else:
                assert got == exp, (key, column, got, exp)


def rebuild_demand_features(warehouse: Path, work: Path) -> None:
    env = {**os.environ, "DUCKDB_PATH": str(warehouse), "DBT_TARGET": "duckdb"}
    subprocess.run(
        [
            dbt_executable(), "run", "--select", "demand_features", "--vars", json.dumps({"as_of_date": AS_OF_DATE}),
            "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
            "--target-path", str(work / "target"), "--log-path", str(work / "logs"),
        ],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip


def test_no_demand_feature_looks_into_the_future(built: Built, tmp_path: Path) -> None:
    cutoff = AS_OF - dt.timedelta(days=20)
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(built.harness.duckdb_path, copy)
    with duckdb.connect(str(copy)) as con:
        before = {
            (r[0], r[1], r[2]): r[3:] for r in rows(con, f"select {FEATURES} from marts.demand_features")
        }
        con.execute(
            "update marts.fact_orders set quantity = quantity + 5, gross_amount = gross_amount * 2, "
            "discount_amount = 0 where order_date > ?",
            (cutoff,),
        )
        con.execute(
            "update marts.fact_orders set is_cancelled = true where order_date > ? and order_id % 4 = 0",
            (cutoff,),
        )
        con.execute(
            "update marts.fact_inventory_snapshots set quantity_available = -1, is_out_of_stock = true "
            "where snapshot_date > ?",
            (cutoff,),
        )
        con.execute("update raw_ops.pricing set price = price * 3 where effective_from > ?", (cutoff,))
    rebuild_demand_features(copy, tmp_path)
    with duckdb.connect(str(copy), read_only=True) as con:
        after = {
            (r[0], r[1], r[2]): r[3:] for r in rows(con, f"select {FEATURES} from marts.demand_features")
        }
    up_to = {k for k in before if k[2] <= cutoff}
    assert up_to and {k for k in after if k[2] <= cutoff} == up_to
    assert all(after[k] == before[k] for k in up_to), "a feature up to the cut-off read a later day"
    later = [k for k in before if k[2] > cutoff]
    changed = [k for k in later if after.get(k) != before[k]]
    assert len(changed) > len(later) // 2, "the changes after the cut-off reach the later days"


def test_orders_fall_on_holidays_as_the_generator_makes_them(built: Built) -> None:
    """The generator weighs a national holiday at 0.15 of its weekday (an optional day at 0.5)."""
    with built.marts() as con:
        days = rows(
            con,
            "select date_day, bool_or(is_holiday), bool_or(is_optional_holiday), sum(orders_count) "
            "from marts.demand_features where day_of_week_iso <= 5 group by date_day",
        )
    ordinary = [orders for _, national, optional, orders in days if not (national or optional)]
    holidays = [orders for _, national, _, orders in days if national]
    assert len(holidays) >= 2, "the feature window holds weekday holidays"
    assert statistics.fmean(holidays) < 0.4 * statistics.fmean(ordinary)
