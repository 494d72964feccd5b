"""The whole pipeline on each supported operational database, reconciled with the source."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from orchestration.demo.run import summarize
from orchestration.resources.dbt import dbt_resource
from tests.pipeline.conftest import make_harness

pytestmark = pytest.mark.slow

SOURCE_REVENUE_SQL = """
select o.customer_id, count(distinct o.id) as orders, sum(i.total) as revenue
from orders o join order_items i on i.order_id = o.id
where o.status <> 'cancelled'
group by o.customer_id
"""


def _source_figures(engine: sa.Engine) -> dict[int, tuple[int, Decimal]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(SOURCE_REVENUE_SQL)).all()
    return {
        int(r.customer_id): (int(r.orders), Decimal(str(r.revenue)).quantize(Decimal("0.01"))) for r in rows
    }


def _mart_figures(con) -> dict[int, tuple[int, Decimal]]:
    rows = con.execute(
        "select customer_id, total_orders, total_revenue from marts.customer_360 where total_orders > 0"
    ).fetchall()
    return {int(c): (int(n), Decimal(str(r)).quantize(Decimal("0.01"))) for c, n, r in rows}


def assert_pipeline_reconciles(harness):
    result = harness.run()
    source = _source_figures(harness.source())
    with harness.source().connect() as conn:
        source_customers = conn.execute(sa.text("select count(*) from customers")).scalar_one()
        source_items = conn.execute(sa.text("select count(*) from order_items")).scalar_one()
    with harness.warehouse() as con:
        marts = _mart_figures(con)
        mart_customers = con.execute("select count(*) from marts.customer_360").fetchone()[0]
        fact_lines = con.execute("select count(*) from marts.fact_orders").fetchone()[0]
        raw_items = con.execute("select count(distinct id) from raw_ops.order_items").fetchone()[0]
    assert source, "the tiny demo data has orders"
    assert marts == source
    assert mart_customers == source_customers
    assert raw_items == source_items
    assert fact_lines == source_items
    return result


def test_pipeline_from_sqlite(sqlite_url, tmp_path, monkeypatch):
    harness = make_harness(sqlite_url, tmp_path, monkeypatch)
    result = assert_pipeline_reconciles(harness)
    # The demo's closing summary lists every mart with its rows and no failed check.
    summary = summarize(harness.settings, result)
    with harness.warehouse() as con:
        customers = con.execute("select count(*) from marts.customer_360").fetchone()[0]
    assert re.search(rf"marts\.customer_360\s+{customers:,} rows", summary), summary
    assert ", 0 failed, 0 warned" in summary
    assert "Run succeeded" in summary
    # On the same built warehouse: the dbt unit tests (RFM, CLV, churn) and the docs.
    assert_dbt_unit_tests_and_docs_pass(harness)


@pytest.mark.postgres
def test_pipeline_from_postgres(postgres_url, tmp_path, monkeypatch):
    assert_pipeline_reconciles(make_harness(postgres_url, tmp_path, monkeypatch))


@pytest.mark.mariadb
def test_pipeline_from_mariadb(mariadb_url, tmp_path, monkeypatch):
    assert_pipeline_reconciles(make_harness(mariadb_url, tmp_path, monkeypatch))


def _dbt(harness, *args: str):
    """dbt on the harness's warehouse the way the product runs it (the dbt resource); fails
    the test with dbt's errors unless the command succeeds."""
    return dbt_resource(harness.settings).cli(list(args)).wait()


def assert_dbt_unit_tests_and_docs_pass(harness) -> None:
    results = _dbt(
        harness, "test", "--select", "test_type:unit", "--vars", '{"incremental_unit_tests": true}'
    ).get_artifact("run_results.json")
    statuses = {r["unique_id"].split(".")[-1]: r["status"] for r in results["results"]}
    assert len(statuses) >= 5
    assert set(statuses.values()) == {"pass"}, statuses
    for logic in ("rfm", "clv", "churn"):
        assert any(logic in name for name in statuses), f"no unit test covers {logic}: {sorted(statuses)}"
    docs = _dbt(harness, "docs", "generate")
    catalog = json.loads((docs.target_path / "catalog.json").read_text())
    documented = {node["metadata"]["name"] for node in catalog["nodes"].values()}
    assert {"customer_360", "fact_orders", "dim_customers"} <= documented
