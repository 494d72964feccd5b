"""Each class of defect, planted in a real extraction batch, fails the right expectation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from orchestration.brazil import make_cnpj
from orchestration.demo.generator import advance
from orchestration.quality import SuiteOutcome, load_suites, run_suite
from orchestration.quality.runner import latest_batch_id
from orchestration.sources import load_sources
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.quality.conftest import PlantBatch, extract_all


def first_ids(warehouse: DuckDBWarehouse, table: str, n: int = 2, where: str = "true") -> list[int]:
    with warehouse.connect(read_only=True) as con:
        rows = con.execute(
            f"select distinct id from raw_ops.{table} where {where} order by id limit {n}"
        ).fetchall()
    return [r[0] for r in rows]


def assert_only_failure(
    outcome: SuiteOutcome, expectation: str, column: str | None, *, count: int | None, key: dict | None
) -> None:
    failed = outcome.failed(expectation, column)
    assert len(failed) == 1, [r.summary() for r in outcome.failures]
    result = failed[0]
    if count is not None:
        assert result.unexpected_count == count
        assert result.unexpected_percent == pytest.approx(100 * count / outcome.rows_validated)
    if key is not None:
        assert key in result.sample_keys
    if column is not None:
        assert column in result.columns


def test_every_raw_table_has_a_suite_and_the_clean_initial_load_passes(warehouse: DuckDBWarehouse) -> None:
    suites = load_suites()
    assert set(load_sources().names) <= {table for layer, table in suites if layer == "raw_ops"}
    for table in load_sources().names:
        outcome = run_suite(warehouse, "raw_ops", table)
        assert outcome.batch_id == "initial"
        assert outcome.rows_validated > 0
        assert outcome.success, (table, [r.summary() for r in outcome.failures])


def test_a_clean_incremental_batch_passes_every_suite(demo_source: tuple[str, Path], tmp_path: Path) -> None:
    import shutil

    url, clean = demo_source
    ops = tmp_path / "ops.db"
    shutil.copy(url.removeprefix("sqlite:///"), ops)
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(clean, path)
    warehouse = DuckDBWarehouse(path)
    advance(f"sqlite:///{ops}", days=2, seed=11)
    extract_all(f"sqlite:///{ops}", warehouse, tmp_path / "landing", "increment-1")
    for table in load_sources().names:
        outcome = run_suite(warehouse, "raw_ops", table)
        assert outcome.batch_id == "increment-1"
        assert outcome.success, (table, [r.summary() for r in outcome.failures])


def test_null_foreign_key_fails_completeness(warehouse: DuckDBWarehouse, plant_batch: PlantBatch) -> None:
    good, bad = first_ids(warehouse, "orders")
    plant_batch("orders", {good: {}, bad: {"customer_id": None}})
    outcome = run_suite(warehouse, "raw_ops", "orders")
    assert_only_failure(
        outcome, "expect_column_values_to_not_be_null", "customer_id", count=1, key={"id": bad}
    )
    assert outcome.blocking_failure


def test_duplicate_key_in_the_latest_version_fails_uniqueness(
    warehouse: DuckDBWarehouse, plant_batch: PlantBatch
) -> None:
    (order_id,) = first_ids(warehouse, "orders", 1)
    batch = plant_batch("orders", {order_id: {"notes": "first copy"}})
    # The same key and cursor value again in the same batch: two "latest" rows.
    with warehouse.connect() as con:
        con.execute(
            "insert into raw_ops.orders select * replace ('second copy' as notes) from raw_ops.orders "
            "where _batch_id = ?",
            [batch],
        )
        con.execute(
            "update raw_ops._loads set rows_inserted = 2, rows_landed = 2 where batch_id = ?", [batch]
        )
    outcome = run_suite(warehouse, "raw_ops", "orders")
    result = outcome.outcome("expect_column_values_to_be_unique", "id")
    assert not result.success and result.validator == "sql"
    assert result.unexpected_count == 2
    assert result.sample_keys == ({"id": order_id},)
    assert [r.expectation_type for r in outcome.failures] == ["expect_column_values_to_be_unique"]


def test_new_version_of_a_key_is_not_a_duplicate(warehouse: DuckDBWarehouse, plant_batch: PlantBatch) -> None:
    ids = first_ids(warehouse, "customers", 3)
    plant_batch("customers", {i: {"tier": "gold"} for i in ids})
    outcome = run_suite(warehouse, "raw_ops", "customers")
    assert outcome.success, [r.summary() for r in outcome.failures]


def test_cnpj_reused_by_another_current_customer_fails_uniqueness(
    warehouse: DuckDBWarehouse, plant_batch: PlantBatch
) -> None:
    first, second = first_ids(warehouse, "customers")
    with warehouse.connect(read_only=True) as con:
        (cnpj,) = con.execute("select cnpj from raw_ops.customers where id = ?", [first]).fetchone()
    plant_batch("customers", {second: {"cnpj": cnpj}})
    outcome = run_suite(warehouse, "raw_ops", "customers")
    result = outcome.outcome("expect_column_values_to_be_unique", "cnpj")
    assert not result.success
    assert result.unexpected_count == 2
    assert set(map(frozenset, (k.items() for k in result.sample_keys))) == {
        frozenset({("id", first)}),
        frozenset({("id", second)}),
    }


def test_negative_quantity_fails_validity(warehouse: DuckDBWarehouse, plant_batch: PlantBatch) -> None:
    good, bad = first_ids(warehouse, "order_items")
    # Keep the line arithmetic consistent so that only the quantity rule fails.
    plant_batch("order_items", {good: {}, bad: {"quantity": -1, "discount": 0, "tax": 0}})
    with warehouse.connect() as con:
        con.execute(
            "update raw_ops.order_items set total = -unit_price where id = ? and quantity = -1", [bad]
        )
    outcome = run_suite(warehouse, "raw_ops", "order_items")
    failed = {(r.expectation_type, r.columns) for r in outcome.failures}
    assert ("expect_column_values_to_be_between", ("quantity",)) in failed
    result = outcome.failed("expect_column_values_to_be_between", "quantity")[0]
    assert result.unexpected_count == 1 and result.sample_keys == ({"id": bad},)


def test_discount_above_line_amount_fails(warehouse: DuckDBWarehouse, plant_batch: PlantBatch) -> None:
    good, bad = first_ids(warehouse, "order_items")
    plant_batch("order_items", {good: {}, bad: {}})
    with warehouse.connect() as con:  # discount = line amount + 10, total kept arithmetically right
        con.execute(
            "update raw_ops.order_items set discount = quantity * unit_price + 10, tax = 20, "
            "total = 10 where id = ? and _batch_id like 'planted%'",
            [bad],
        )
    outcome = run_suite(warehouse, "raw_ops", "order_items")
    assert_only_failure(
        outcome, "expect_column_values_to_not_exceed_expression", "discount", count=1, key={"id": bad}
    )


def test_total_not_equal_to_parts_fails(warehouse: DuckDBWarehouse, plant_batch: PlantBatch) -> None:
    good, bad = first_ids(warehouse, "orders")
    plant_batch("orders", {good: {}})
    with warehouse.connect(read_only=True) as con:
        (total,) = con.execute("select max(total) from raw_ops.orders where id = ?", [bad]).fetchone()
    plant_batch("orders", {good: {}, bad: {"total": float(total) + 0.02}})
    outcome = run_suite(warehouse, "raw_ops", "orders")
    assert_only_failure(
        outcome, "expect_column_values_to_equal_expression", "total", count=1, key={"id": bad}
    )


def test_one_cent_rounding_is_tolerated(warehouse: DuckDBWarehouse, plant_batch: PlantBatch) -> None:
    (order_id,) = first_ids(warehouse, "orders", 1)
    with warehouse.connect(read_only=True) as con:
        (total,) = con.execute("select max(total) from raw_ops.orders where id = ?", [order_id]).fetchone()
    plant_batch("orders", {order_id: {"total": float(total) + 0.01}})
    assert run_suite(warehouse, "raw_ops", "orders").success


def test_future_order_date_fails(warehouse: DuckDBWarehouse, plant_batch: PlantBatch) -> None:
    good, bad = first_ids(warehouse, "orders")
    plant_batch("orders", {good: {}, bad: {"order_date": dt.date.today() + dt.timedelta(days=30)}})
    outcome = run_suite(warehouse, "raw_ops", "orders")
    assert_only_failure(outcome, "expect_column_values_to_be_between", "order_date", count=1, key={"id": bad})


def test_unknown_status_fails(warehouse: DuckDBWarehouse, plant_batch: PlantBatch) -> None:
    good, bad = first_ids(warehouse, "orders")
    plant_batch("orders", {good: {}, bad: {"status": "lost_in_transit"}})
    outcome = run_suite(warehouse, "raw_ops", "orders")
    assert_only_failure(outcome, "expect_column_values_to_be_in_set", "status", count=1, key={"id": bad})
    assert outcome.failures[0].sample_values == ("lost_in_transit",)


def test_bad_cnpj_check_digits_fail(warehouse: DuckDBWarehouse, plant_batch: PlantBatch) -> None:
    good, bad = first_ids(warehouse, "customers")
    valid = make_cnpj(12345678)
    wrong = valid[:-1] + str((int(valid[-1]) + 1) % 10)
    plant_batch("customers", {good: {}, bad: {"cnpj": wrong}})
    outcome = run_suite(warehouse, "raw_ops", "customers")
    assert_only_failure(outcome, "expect_column_values_to_be_valid_cnpj", "cnpj", count=1, key={"id": bad})
    assert outcome.blocking_failure


def test_bad_email_is_a_warning(warehouse: DuckDBWarehouse, plant_batch: PlantBatch) -> None:
    good, bad = first_ids(warehouse, "customers", where="email is not null")
    plant_batch("customers", {good: {}, bad: {"email": "farmacia.at.example.com"}})
    outcome = run_suite(warehouse, "raw_ops", "customers")
    assert_only_failure(outcome, "expect_column_values_to_match_regex", "email", count=1, key={"id": bad})
    assert not outcome.blocking_failure  # severity warn: downstream still runs


def test_bad_anvisa_code_fails(warehouse: DuckDBWarehouse, plant_batch: PlantBatch) -> None:
    good, bad = first_ids(warehouse, "products")
    plant_batch("products", {good: {}, bad: {"regulatory_code": "12345"}})
    outcome = run_suite(warehouse, "raw_ops", "products")
    assert_only_failure(
        outcome, "expect_column_values_to_match_regex", "regulatory_code", count=1, key={"id": bad}
    )


def test_orphan_order_item_fails_referential_integrity(
    warehouse: DuckDBWarehouse, plant_batch: PlantBatch
) -> None:
    good, bad = first_ids(warehouse, "order_items")
    plant_batch("order_items", {good: {}, bad: {"order_id": 987_654_321}})
    outcome = run_suite(warehouse, "raw_ops", "order_items")
    assert_only_failure(
        outcome, "expect_column_values_to_exist_in_table", "order_id", count=1, key={"id": bad}
    )
    result = outcome.failures[0]
    assert result.validator == "sql" and result.sample_values == (987_654_321,)


def test_row_count_collapse_is_a_warning(warehouse: DuckDBWarehouse, plant_batch: PlantBatch) -> None:
    ids = first_ids(warehouse, "orders", 40)
    for n in range(4):  # a steady history of ~40-row increments
        plant_batch("orders", {i: {"notes": f"v{n}"} for i in ids})
    plant_batch("orders", {ids[0]: {"notes": "collapse"}})
    outcome = run_suite(warehouse, "raw_ops", "orders")
    result = outcome.outcome("expect_batch_row_count_to_be_within_ratio_of_previous_loads")
    assert not result.success
    assert result.observed_value["ratio"] == pytest.approx(1 / 40)
    assert [r.expectation_type for r in outcome.failures] == [result.expectation_type]
    assert not outcome.blocking_failure


def test_batch_that_disagrees_with_the_ledger_fails(
    warehouse: DuckDBWarehouse, plant_batch: PlantBatch
) -> None:
    ids = first_ids(warehouse, "orders", 3)
    batch = plant_batch("orders", {i: {} for i in ids})
    with warehouse.connect() as con:
        con.execute(
            "update raw_ops._loads set rows_inserted = 5, rows_landed = 5 where batch_id = ?", [batch]
        )
    outcome = run_suite(warehouse, "raw_ops", "orders")
    result = outcome.outcome("expect_batch_row_count_to_match_ledger")
    assert not result.success and result.unexpected_count == 2
    assert result.observed_value == {"rows_in_table": 3, "rows_inserted": 5, "rows_landed": 5}


def test_latest_batch_comes_from_the_ledger(warehouse: DuckDBWarehouse, plant_batch: PlantBatch) -> None:
    (order_id,) = first_ids(warehouse, "orders", 1)
    batch = plant_batch("orders", {order_id: {}})
    with warehouse.sql().reading() as sql:
        assert latest_batch_id(sql, "raw_ops", "orders") == batch
    assert run_suite(warehouse, "raw_ops", "orders").rows_validated == 1
    assert run_suite(warehouse, "raw_ops", "orders", batch_id="initial").rows_validated > 1
