"""The whole pipeline on each supported operational database, reconciled with the source.

The SQLite build also serves every check of what one real daily_full_build leaves for its
readers: a full build costs a minute or two of CI, so the module builds it once
(``sqlite_build``) and each test asserts one property of it, so a failure names what broke.

- Issue #16 item 6: a BI tool holding the marts' read-only copy open never blocks a build,
  nor is blocked by one. A reader opens the copy (DUCKDB_BI_PATH) and queries it in a loop on
  its own thread while the build runs; the build ends by publishing a new copy over the one
  the reader holds. Both succeed: the reader keeps its consistent old copy until it
  reconnects, and a new connection sees the new marts whole.
- Issue #16 item 4: the dbt assets' materializations carry row counts (tables, not views),
  column schemas and column lineage (dagster-dbt's fetch_row_counts / fetch_column_metadata):
  the build runs with DBT_FETCH_METADATA=true, off everywhere else in the suite
  (tests/conftest.py).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from orchestration.demo.run import summarize
from orchestration.resources.dbt import dbt_resource
from orchestration.warehouse.bi_copy import publish_bi_copy
from tests.pipeline.conftest import PipelineHarness, make_harness

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


def assert_marts_reconcile_with_source(harness: PipelineHarness) -> None:
    """After a full build: customer_360's orders and revenue per customer, its customers and
    fact_orders' lines equal the source's."""
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


@dataclass
class SqliteBuild:
    """One daily_full_build of the tiny SQLite demo, with dbt metadata, built while a reader
    held yesterday's BI copy (3 customers) open."""

    harness: PipelineHarness
    result: object  # dagster's ExecuteInProcessResult
    work_dir: Path
    reader_saw: list[int] = field(default_factory=list)  # customer_360's rows, each read during the build
    reader_errors: list[BaseException] = field(default_factory=list)
    reader_after_build: int | None = None  # the same connection's read once the build ended

    @property
    def materialized(self) -> dict[str, dict]:
        return {
            e.asset_key.to_user_string(): e.step_materialization_data.materialization.metadata
            for e in self.result.get_asset_materialization_events()
        }


@pytest.fixture(scope="module")
def sqlite_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteBuild]:
    work_dir = tmp_path_factory.mktemp("sqlite_build")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DBT_FETCH_METADATA", "true")  # off elsewhere in the suite (tests/conftest.py)
        harness = make_harness(f"sqlite:///{work_dir / 'ops.db'}", work_dir, mp)
        # Yesterday's copy, from a tiny warehouse of its own.
        yesterday = work_dir / "yesterday.duckdb"
        with duckdb.connect(str(yesterday)) as con:
            con.execute(
                "create schema marts; "
                "create table marts.customer_360 as select range as customer_id from range(3)"
            )
        publish_bi_copy(yesterday, harness.settings.duckdb_bi_path)

        reader = duckdb.connect(str(harness.settings.duckdb_bi_path), read_only=True)
        build = SqliteBuild(harness=harness, result=None, work_dir=work_dir)
        stop = threading.Event()

        def read_while_building() -> None:
            try:
                while not stop.is_set():
                    count = reader.cursor().execute("select count(*) from marts.customer_360").fetchone()[0]
                    build.reader_saw.append(count)
                    time.sleep(0.05)
            except BaseException as exc:  # the BI-copy test reports it
                build.reader_errors.append(exc)

        thread = threading.Thread(target=read_while_building)
        thread.start()
        try:
            build.result = harness.run("daily_full_build")  # asserts success
        finally:
            stop.set()
            thread.join(timeout=30)
        build.reader_after_build = reader.execute("select count(*) from marts.customer_360").fetchone()[0]
        reader.close()
        yield build


def test_pipeline_from_sqlite(sqlite_build):
    assert_marts_reconcile_with_source(sqlite_build.harness)


def test_the_demo_summary_lists_every_mart_and_no_failed_check(sqlite_build):
    summary = summarize(sqlite_build.harness.settings, sqlite_build.result)
    with sqlite_build.harness.warehouse() as con:
        customers = con.execute("select count(*) from marts.customer_360").fetchone()[0]
    assert re.search(rf"marts\.customer_360\s+{customers:,} rows", summary), summary
    assert ", 0 failed, 0 warned" in summary
    assert "Run succeeded" in summary


def test_dbt_unit_tests_and_docs_pass_on_the_built_warehouse(sqlite_build):
    """The dbt unit tests (RFM, CLV, churn) and the docs, on the warehouse the build left."""
    assert_dbt_unit_tests_and_docs_pass(sqlite_build.harness)


def test_a_reader_holding_the_bi_copy_open_keeps_reading_its_own_copy_through_the_build(sqlite_build):
    assert sqlite_build.harness.settings.duckdb_bi_path == sqlite_build.work_dir / "warehouse_bi.duckdb"
    assert not sqlite_build.reader_errors, sqlite_build.reader_errors
    seen = sqlite_build.reader_saw
    assert len(seen) > 10 and set(seen) == {3}, "the reader kept reading its own copy throughout the build"
    assert sqlite_build.reader_after_build == 3


def test_the_build_publishes_a_new_bi_copy_holding_only_the_marts_whole(sqlite_build):
    assert sqlite_build.materialized["bi/marts_copy"]["tables"].value >= 15
    copy_path = sqlite_build.harness.settings.duckdb_bi_path
    with (
        duckdb.connect(str(copy_path), read_only=True) as fresh,
        sqlite_build.harness.warehouse() as warehouse,
    ):
        for table in ("customer_360", "fact_orders", "dim_customers"):
            assert (
                fresh.execute(f"select count(*) from marts.{table}").fetchone()[0]
                == warehouse.execute(f"select count(*) from marts.{table}").fetchone()[0]
                > 3
            ), table
        assert not fresh.execute(
            "select count(*) from information_schema.tables where table_schema not in ('marts', '_meta')"
        ).fetchone()[0], "only the marts are published"
    assert not list(sqlite_build.work_dir.glob(".warehouse_bi.duckdb.*")), "no temporary file is left behind"


def test_dbt_assets_carry_row_counts_column_schemas_and_lineage(sqlite_build):
    with sqlite_build.harness.warehouse() as warehouse:
        fact_orders_rows = warehouse.execute("select count(*) from marts.fact_orders").fetchone()[0]
    materialized = sqlite_build.materialized
    fact_orders = materialized["marts/fact_orders"]
    assert fact_orders["dagster/row_count"].value == fact_orders_rows
    columns = {c.name: c.type for c in fact_orders["dagster/column_schema"].value.columns}
    assert {"order_item_id", "order_id", "customer_id", "order_status"} <= set(columns)
    assert columns["order_item_id"].lower() == "bigint"
    lineage = fact_orders["dagster/column_lineage"].value.deps_by_column
    assert any(dep.asset_key.path[0] in ("staging", "intermediate") for dep in lineage["customer_id"])
    assert "dagster/row_count" not in materialized["staging/stg_ops__orders"], "views are not counted"
    assert "dagster/column_schema" in materialized["staging/stg_ops__orders"]


@pytest.mark.postgres
def test_pipeline_from_postgres(postgres_url, tmp_path, monkeypatch):
    harness = make_harness(postgres_url, tmp_path, monkeypatch)
    harness.run()
    assert_marts_reconcile_with_source(harness)


@pytest.mark.mariadb
def test_pipeline_from_mariadb(mariadb_url, tmp_path, monkeypatch):
    harness = make_harness(mariadb_url, tmp_path, monkeypatch)
    harness.run()
    assert_marts_reconcile_with_source(harness)


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
