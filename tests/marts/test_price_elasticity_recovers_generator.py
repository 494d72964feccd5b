"""price_elasticity recovers the elasticity the demo generator gave each product.

The generator moves each line's expected quantity by (list price in force / anchor) ** e, with
e a known function of the product id (``product_elasticity``). The tiny demo has too few lines
per product for a slope to be precise (its exact figures are checked from the source in
test_marts_recomputed_from_source.py), so this module builds its own small source: six
products, 12,000 orders over six months, about five price changes per product. The real
``daily_full_build`` runs on it once; the mart's slopes must then land within TOLERANCE of the
generator's elasticities, and the category's pooled slope within TOLERANCE of its products'
elasticities weighted as the within-product fit weighs them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import numpy as np
import pytest

from orchestration.demo.generator import Scale, generate
from orchestration.demo.generator.common import product_elasticity
from orchestration.settings import load_settings
from tests.marts.built import rows
from tests.marts.test_marts_recomputed_from_source import SOURCE_PRICE_POINTS, Fit
from tests.pipeline.conftest import AS_OF_DATE, DEMO_END, PipelineHarness

pytestmark = pytest.mark.slow

# customers, products, suppliers, categories, warehouses, months, orders, items per order, interactions
ELASTICITY_SCALE = Scale(40, 6, 3, 2, 1, 6, 12_000, 2.0, 10)
# About 2,000-6,500 lines and five to eight price points per product: a slope's standard error
# is 0.05-0.2 here (with ten times the orders every slope lands within 0.06: no bias).
TOLERANCE = 0.3


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipelineHarness]:
    base = tmp_path_factory.mktemp("elasticity")
    ops_url = f"sqlite:///{base / 'ops.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPS_DATABASE_URL", ops_url)
        mp.setenv("DUCKDB_PATH", str(base / "warehouse.duckdb"))
        mp.setenv("WAREHOUSE", "duckdb")
        mp.delenv("DAGSTER_HOME", raising=False)
        generate(ops_url, ELASTICITY_SCALE, seed=42, end=DEMO_END)
        built = PipelineHarness(
            ops_url=ops_url, settings=load_settings(), duckdb_path=base / "warehouse.duckdb"
        )
        built.run()
        yield built


def test_price_elasticity_recovers_each_product_elasticity(harness: PipelineHarness) -> None:
    with harness.warehouse() as con:
        mart = rows(
            con,
            "select product_id, price_changes, price_elasticity, std_error, is_confident "
            "from marts.price_elasticity order by product_id",
        )
    truth = dict(zip(range(1, 7), product_elasticity(np.arange(1, 7)).tolist(), strict=True))
    assert [r[0] for r in mart] == list(truth), "every product sells"
    confident = [r for r in mart if r[4]]
    assert len(confident) >= 5, mart
    for product, changes, slope, std_error, _ in confident:
        assert changes >= 3 and float(std_error) <= 0.5, product
        assert abs(float(slope) - truth[product]) <= TOLERANCE, (product, float(slope), truth[product])
    # The estimates tell products apart: the most and the least elastic are ranked as generated.
    by_slope = sorted(confident, key=lambda r: float(r[2]))
    by_truth = sorted(confident, key=lambda r: truth[r[0]])
    assert by_slope[0][0] == by_truth[0][0] and by_slope[-1][0] == by_truth[-1][0]


def test_price_elasticity_by_category_recovers_the_weighted_elasticity(harness: PipelineHarness) -> None:
    path = harness.ops_url.removeprefix("sqlite:///")
    points: dict[int, list[tuple[float, int, int]]] = {}
    category_of: dict[int, int] = {}
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as src:
        for product, category, price, lines, units in rows(src, SOURCE_PRICE_POINTS, (AS_OF_DATE,)):
            points.setdefault(product, []).append((price, lines, units))
            category_of[product] = category
    # The within-product slope weighs each product by its price variation (sum of squares).
    weights: dict[int, dict[int, float]] = {}
    for product, p in points.items():
        weights.setdefault(category_of[product], {})[product] = Fit.of(p).sxx
    with harness.warehouse() as con:
        mart = dict(rows(con, "select category_id, price_elasticity from marts.price_elasticity_by_category"))
    assert set(mart) == set(weights)
    for category, by_product in weights.items():
        ids = np.array(sorted(by_product))
        w = np.array([by_product[i] for i in ids.tolist()])
        expected = float((w * product_elasticity(ids)).sum() / w.sum())
        assert abs(float(mart[category]) - expected) <= TOLERANCE / 2, (category, mart[category], expected)
