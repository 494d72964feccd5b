"""What one real daily_full_build leaves for its readers (one build serves both tests' checks:
each build costs a minute or two of CI).

Issue #16 item 6: a BI tool holding the marts' read-only copy open never blocks a build, nor
is blocked by one. The reader opens the copy (DUCKDB_BI_PATH) and queries it in a loop on its own thread while
the real daily_full_build runs; the build ends by publishing a new copy over the one the
reader holds. Both succeed: the reader keeps its consistent old copy until it reconnects,
and a new connection sees the new marts whole.

Issue #16 item 4: the dbt assets' materializations carry row counts (tables, not views),
column schemas and column lineage (dagster-dbt's fetch_row_counts / fetch_column_metadata).
"""

from __future__ import annotations

import threading
import time

import duckdb
import pytest

from orchestration.warehouse.bi_copy import publish_bi_copy
from tests.pipeline.conftest import make_harness

pytestmark = pytest.mark.slow


def test_a_reader_holding_the_bi_copy_open_and_a_full_build_both_succeed_with_dbt_metadata(
    sqlite_url, tmp_path, monkeypatch
):
    monkeypatch.setenv("DBT_FETCH_METADATA", "true")  # off elsewhere in the suite (tests/conftest.py)
    harness = make_harness(sqlite_url, tmp_path, monkeypatch)
    copy_path = harness.settings.duckdb_bi_path
    assert copy_path == tmp_path / "warehouse_bi.duckdb"
    # Yesterday's copy, from a tiny warehouse of its own.
    yesterday = tmp_path / "yesterday.duckdb"
    with duckdb.connect(str(yesterday)) as con:
        con.execute(
            "create schema marts; create table marts.customer_360 as select range as customer_id from range(3)"
        )
    publish_bi_copy(yesterday, copy_path)

    reader = duckdb.connect(str(copy_path), read_only=True)
    seen: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def read_while_building() -> None:
        try:
            while not stop.is_set():
                seen.append(reader.cursor().execute("select count(*) from marts.customer_360").fetchone()[0])
                time.sleep(0.05)
        except BaseException as exc:  # the assertion below reports it
            errors.append(exc)

    thread = threading.Thread(target=read_while_building)
    thread.start()
    try:
        result = harness.run("daily_full_build")  # asserts success
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not errors, errors
    assert len(seen) > 10 and set(seen) == {3}, "the reader kept reading its own copy throughout the build"
    materialized = {
        e.asset_key.to_user_string(): e.step_materialization_data.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert materialized["bi/marts_copy"]["tables"].value >= 15
    assert reader.execute("select count(*) from marts.customer_360").fetchone()[0] == 3
    reader.close()

    with duckdb.connect(str(copy_path), read_only=True) as fresh, harness.warehouse() as warehouse:
        for table in ("customer_360", "fact_orders", "dim_customers"):
            assert (
                fresh.execute(f"select count(*) from marts.{table}").fetchone()[0]
                == warehouse.execute(f"select count(*) from marts.{table}").fetchone()[0]
                > 3
            ), table
        assert not fresh.execute(
            "select count(*) from information_schema.tables where table_schema not in ('marts', '_meta')"
        ).fetchone()[0], "only the marts are published"
    assert not list(tmp_path.glob(".warehouse_bi.duckdb.*")), "no temporary file is left behind"

    # dbt metadata on the dbt assets.
    with harness.warehouse() as warehouse:
        fact_orders_rows = warehouse.execute("select count(*) from marts.fact_orders").fetchone()[0]
    fact_orders = materialized["marts/fact_orders"]
    assert fact_orders["dagster/row_count"].value == fact_orders_rows
    columns = {c.name: c.type for c in fact_orders["dagster/column_schema"].value.columns}
    assert {"order_item_id", "order_id", "customer_id", "order_status"} <= set(columns)
    assert columns["order_item_id"].lower() == "bigint"
    lineage = fact_orders["dagster/column_lineage"].value.deps_by_column
    assert any(dep.asset_key.path[0] in ("staging", "intermediate") for dep in lineage["customer_id"])
    assert "dagster/row_count" not in materialized["staging/stg_ops__orders"], "views are not counted"
    assert "dagster/column_schema" in materialized["staging/stg_ops__orders"]
