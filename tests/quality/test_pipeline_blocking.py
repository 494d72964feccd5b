"""Defects planted in the SOURCE database stop the real pipeline at the raw checks.

Two runs on the tiny demo data: a clean daily build (every check passes), then defects
written into the operational database and the hourly job: the raw check of each
damaged table fails naming the table and column, the dbt op is skipped, and the marts
keep the last good build.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from orchestration.assets import operational_db
from orchestration.brazil import is_valid_cnpj
from orchestration.quality import CHECK_NAME
from orchestration.resources.dbt import prepare_manifest
from orchestration.settings import DBT_PROJECT_DIR, load_settings
from tests.pipeline.conftest import AS_OF_DATE, DEMO_END

pytestmark = pytest.mark.slow

RAW_TABLES = {
    "categories", "suppliers", "warehouses", "customers", "products",
    "inventory", "pricing", "orders", "order_items", "customer_interactions",
}  # fmt: skip
SUITE_MARTS = {p.stem for p in (DBT_PROJECT_DIR / "models" / "marts").rglob("*.sql")}  # every mart
CHANGED_AT = DEMO_END + dt.timedelta(hours=1)  # after the first load's high-water mark, still in the past


@pytest.fixture(scope="module", autouse=True)
def _dbt_manifest() -> None:
    prepare_manifest(load_settings({}))


def _run(settings, job: str) -> dg.ExecuteInProcessResult:
    from orchestration.demo.run import run_pipeline

    return run_pipeline(settings, job_name=job, as_of_date=AS_OF_DATE, log_level="WARNING")


def _evaluations(result: dg.ExecuteInProcessResult, name: str | None = None) -> dict[str, Any]:
    return {
        e.asset_key.to_user_string(): e
        for e in result.get_asset_check_evaluations()
        if name is None or e.check_name == name
    }


def _failures(evaluation: dg.AssetCheckEvaluation) -> set[tuple[str, str]]:
    return {(f["expectation"], f["columns"]) for f in evaluation.metadata["failures"].value}


def _failure(evaluation: dg.AssetCheckEvaluation, expectation: str, column: str) -> dict[str, Any]:
    (match,) = [
        f
        for f in evaluation.metadata["failures"].value
        if f["expectation"] == expectation and f["columns"] == column
    ]
    return match


def _materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {
        e.asset_key.to_user_string()
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    }


def _started_steps(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}


def _row(conn: sa.Connection, sql: str, **params: Any) -> sa.Row:
    return conn.execute(sa.text(sql), params).one()


def _insert_copy(conn: sa.Connection, table: str, source_id: int, changes: dict[str, Any]) -> None:
    row = dict(_row(conn, f"select * from {table} where id = :id", id=source_id)._mapping)
    row.update(changes)
    columns = ", ".join(row)
    conn.execute(sa.text(f"insert into {table} ({columns}) values (:{', :'.join(row)})"), row)


def plant_source_defects(engine: sa.Engine) -> dict[str, Any]:
    """Write one defect per class into the operational database; return the ids involved."""
    with engine.begin() as conn:
        (max_item,) = _row(conn, "select max(id) from order_items")
        (max_order,) = _row(conn, "select max(id) from orders")
        (max_product,) = _row(conn, "select max(id) from products")
        order_id, product_id = _row(
            conn, "select order_id, product_id from order_items where id = :i", i=max_item
        )
        # validity: a line with a negative quantity (money consistent with it).
        negative_item = max_item + 1
        _insert_copy(
            conn,
            "order_items",
            max_item,
            {"id": negative_item, "quantity": -3, "unit_price": 10, "discount": 0, "tax": 0, "total": -30,
             "created_at": CHANGED_AT, "updated_at": CHANGED_AT},
        )  # fmt: skip
        # referential integrity: a line of an order that does not exist.
        orphan_item = max_item + 2
        _insert_copy(
            conn,
            "order_items",
            max_item,
            {
                "id": orphan_item,
                "order_id": max_order + 1000,
                "created_at": CHANGED_AT,
                "updated_at": CHANGED_AT,
            },
        )
        # format: a customer's CNPJ with a wrong check digit (still unique in the source).
        customer_id, cnpj = _row(conn, "select id, cnpj from customers order by id limit 1")
        bad_cnpj = cnpj[:-1] + str((int(cnpj[-1]) + 1) % 10)
        assert not is_valid_cnpj(bad_cnpj)
        conn.execute(
            sa.text("update customers set cnpj = :c, updated_at = :t where id = :i"),
            {"c": bad_cnpj, "t": CHANGED_AT, "i": customer_id},
        )
        # validity: an order dated a month in the future (real clock: the rule is "not after today").
        future_order = order_id
        conn.execute(
            sa.text("update orders set order_date = :d, updated_at = :t where id = :i"),
            {"d": dt.date.today() + dt.timedelta(days=30), "t": CHANGED_AT, "i": future_order},
        )
        # uniqueness: a product hard-deleted in the source and re-registered under a new id with
        # the same SKU. Raw keeps the deleted version, so two current products share the SKU.
        (sku,) = _row(conn, "select sku from products where id = :i", i=max_product)
        reused_product = max_product + 1
        _insert_copy(
            conn,
            "products",
            max_product,
            {"id": reused_product, "sku": f"{sku}-new", "updated_at": CHANGED_AT},
        )
        conn.execute(sa.text("delete from products where id = :i"), {"i": max_product})
        conn.execute(sa.text("update products set sku = :s where id = :i"), {"s": sku, "i": reused_product})
    return {
        "negative_item": negative_item,
        "orphan_item": orphan_item,
        "customer": customer_id,
        "future_order": future_order,
        "reused_product": reused_product,
        "deleted_product": max_product,
        "product_of_items": product_id,
    }


def _ids(con, sql: str, ids: Iterable[int]) -> set[int]:
    ids = list(ids)
    placeholders = ", ".join("?" for _ in ids)
    return {r[0] for r in con.execute(sql.format(ids=placeholders), ids).fetchall()}


def test_source_defects_fail_the_raw_checks_and_block_the_marts(tiny_demo_daily, tmp_path, monkeypatch):
    monkeypatch.setenv("QUALITY_DATA_DOCS_DIR", str(tmp_path / "data_docs"))
    # Landing files of this test's runs stay in its own directory.
    monkeypatch.setattr(operational_db, "DATA_DIR", tmp_path / "data")

    # 1. A clean daily build (shared by the run, tests/built_demo.py): every check (suites,
    # dbt tests, freshness) passed.
    assert tiny_demo_daily.assets_with_check(CHECK_NAME) == {f"raw_ops/{t}" for t in RAW_TABLES} | {
        f"marts/{t}" for t in SUITE_MARTS
    }
    assert not tiny_demo_daily.failed_checks(), (
        f"checks failed on clean data: {tiny_demo_daily.failed_checks()}"
    )
    assert tiny_demo_daily.assets_with_check("freshness_check") >= {"raw_ops/orders", "marts/fact_orders"}
    harness = tiny_demo_daily.copy_to(tmp_path, monkeypatch)
    with harness.warehouse() as con:
        (fact_lines_before,) = con.execute("select count(*) from marts.fact_orders").fetchone()

    # 2. Defects in the source, then the hourly job.
    planted = plant_source_defects(harness.source())
    blocked = _run(harness.settings, "hourly_incremental")
    assert not blocked.success
    evaluations = _evaluations(blocked, CHECK_NAME)

    items = evaluations["raw_ops/order_items"]
    assert not items.passed and items.severity == dg.AssetCheckSeverity.ERROR
    assert items.metadata["relation"].value == "raw_ops.order_items"
    assert _failures(items) == {
        ("expect_column_values_to_be_between", "quantity"),
        ("expect_column_values_to_be_between", "total"),
        ("expect_column_values_to_not_exceed_expression", "discount"),  # discount <= quantity * unit_price
        ("expect_column_values_to_exist_in_table", "order_id"),
    }
    negative = _failure(items, "expect_column_values_to_be_between", "quantity")
    assert negative["unexpected_count"] == 1 and negative["sample_keys"] == [{"id": planted["negative_item"]}]
    orphan = _failure(items, "expect_column_values_to_exist_in_table", "order_id")
    assert orphan["unexpected_count"] == 1 and orphan["sample_keys"] == [{"id": planted["orphan_item"]}]
    assert items.metadata["data_docs"].value.startswith("file://")

    customers = evaluations["raw_ops/customers"]
    assert not customers.passed and customers.severity == dg.AssetCheckSeverity.ERROR
    assert _failures(customers) == {("expect_column_values_to_be_valid_cnpj", "cnpj")}
    assert customers.metadata["failing_columns"].value == "cnpj"
    cnpj = _failure(customers, "expect_column_values_to_be_valid_cnpj", "cnpj")
    assert cnpj["sample_keys"] == [{"id": planted["customer"]}]

    orders = evaluations["raw_ops/orders"]
    assert not orders.passed and orders.severity == dg.AssetCheckSeverity.ERROR
    assert _failures(orders) == {("expect_column_values_to_be_between", "order_date")}
    future = _failure(orders, "expect_column_values_to_be_between", "order_date")
    assert future["sample_keys"] == [{"id": planted["future_order"]}]

    products = evaluations["raw_ops/products"]
    assert not products.passed and products.severity == dg.AssetCheckSeverity.ERROR
    assert _failures(products) == {("expect_column_values_to_be_unique", "sku")}
    duplicate = _failure(products, "expect_column_values_to_be_unique", "sku")
    assert duplicate["unexpected_count"] == 2
    assert {k["id"] for k in duplicate["sample_keys"]} == {
        planted["deleted_product"],
        planted["reused_product"],
    }

    untouched = RAW_TABLES - {"order_items", "customers", "orders", "products"}
    assert all(evaluations[f"raw_ops/{t}"].passed for t in untouched)

    # The extraction happened (the bad batch is in raw) but the dbt op never started:
    # no mart, staging view or snapshot was materialized and no mart check ran.
    materialized = _materialized(blocked)
    assert {f"raw_ops/{t}" for t in RAW_TABLES} <= materialized
    assert not {k for k in materialized if not k.startswith("raw_ops/")}
    started = _started_steps(blocked)
    assert "raw_ops__orders" in started and "dbt_models" not in started
    assert not {k for k in evaluations if k.startswith("marts/")}
    with harness.warehouse() as con:
        bad_items = [planted["negative_item"], planted["orphan_item"]]
        assert _ids(con, "select id from raw_ops.order_items where id in ({ids})", bad_items) == set(
            bad_items
        )
        assert not _ids(
            con, "select order_item_id from marts.fact_orders where order_item_id in ({ids})", bad_items
        )
        (fact_lines_after,) = con.execute("select count(*) from marts.fact_orders").fetchone()
        future_dates = con.execute(
            "select count(*) from marts.fact_orders where order_date > current_date"
        ).fetchone()[0]
    assert fact_lines_after == fact_lines_before
    assert future_dates == 0
