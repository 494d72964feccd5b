"""inventory_optimisation recomputed from the source (the package's tiny demo build).

Plain SQL on the operational SQLite file: the last 90 days of non-cancelled units per product x
warehouse x day, the supplier's lead time, and the one inventory row per position (after one
extraction it is the position of the latest snapshot day). Safety stock, reorder point,
order-up-to level and the suggested order follow from them at the default service level.
"""

from __future__ import annotations

import math
import statistics

import pytest

from tests.marts.built import Built, close, rows
from tests.marts.test_marts_recomputed_from_source import AS_OF
from tests.pipeline.conftest import AS_OF_DATE

pytestmark = pytest.mark.slow

WINDOW_DAYS, Z_95, REVIEW_DAYS, OVERSTOCK_DAYS = 90, 1.6449, 14, 30  # the vars' defaults

SOURCE_DAILY_UNITS = """
select i.product_id, o.warehouse_id, o.order_date, sum(i.quantity)
from order_items i join orders o on o.id = i.order_id
where o.status <> 'cancelled' and o.order_date > date(?, '-90 days') and o.order_date <= ?
group by i.product_id, o.warehouse_id, o.order_date
"""
SOURCE_LEAD_TIMES = """
select p.id, s.lead_time_days from products p left join suppliers s on s.id = p.manufacturer_id
"""
SOURCE_POSITIONS = (
    "select product_id, warehouse_id, quantity_available, quantity_incoming, reorder_point from inventory"
)
COLUMNS = (
    "units_sold, days_with_sales, lead_time_days, quantity_available, quantity_incoming, source_reorder_point, "
    "safety_stock, reorder_point, order_up_to_level, suggested_order_quantity, mean_daily_demand, "
    "daily_demand_stddev, days_of_cover, has_inventory_position, is_understocked, is_overstocked"
)


def test_inventory_optimisation_recomputed_from_source(built: Built) -> None:
    with built.source() as src:
        daily: dict[tuple[int, int], list[int]] = {}
        for product, warehouse, _, units in rows(src, SOURCE_DAILY_UNITS, (AS_OF_DATE, AS_OF_DATE)):
            daily.setdefault((product, warehouse), []).append(units)
        lead_time = dict(rows(src, SOURCE_LEAD_TIMES))
        positions = {(p, w): rest for p, w, *rest in rows(src, SOURCE_POSITIONS)}
    expected = {}
    for pair in set(daily) | set(positions):
        sold = daily.get(pair, [])
        series = sold + [0] * (WINDOW_DAYS - len(sold))
        mean, stddev = statistics.fmean(series), statistics.stdev(series)
        lead = lead_time[pair[0]]
        safety = Z_95 * stddev * math.sqrt(lead)
        reorder = math.ceil(mean * lead + safety)
        up_to = math.ceil(mean * (lead + REVIEW_DAYS) + safety)
        available, incoming, source_reorder = positions.get(pair, (None, None, None))
        held = available is not None
        under = held and available + incoming <= reorder
        expected[pair] = (
            sum(sold), len(sold), lead, available, incoming, source_reorder,
            math.ceil(safety), reorder, up_to, up_to - (available + incoming) if under else 0,
            mean, stddev, available / mean if held and mean else None,
            held, under, held and available > up_to + OVERSTOCK_DAYS * mean,
        )  # fmt: skip
    with built.marts() as con:
        mart = {
            (r[0], r[1]): r[2:]
            for r in rows(
                con, f"select product_id, warehouse_id, {COLUMNS} from marts.inventory_optimisation"
            )
        }
        snapshot_days = rows(con, "select distinct stock_snapshot_date from marts.inventory_optimisation")
    assert set(mart) == set(expected)
    assert {d for (d,) in snapshot_days} <= {AS_OF, None}
    assert any(e[14] for e in expected.values()) and any(not e[14] for e in expected.values() if e[13])
    for pair, row in mart.items():
        want = expected[pair]
        assert row[:10] == want[:10], (pair, row[:10], want[:10])
        for got, exp in zip(row[10:13], want[10:13], strict=True):
            assert close(got, exp, 1e-4), (pair, got, exp)
        assert row[13:] == want[13:], pair
