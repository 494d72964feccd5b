"""Mart suites validate the whole table, or for an incremental fact the rows its latest build
merged (``_built_at``); cross-table checks are pushed down as SQL.

The marts here are hand-built stand-ins with the contracted columns (dbt is not run).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from orchestration.quality import run_suite
from orchestration.settings import EXPECTATIONS_DIR
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse

FIRST_BUILD, NEXT_BUILD = "2026-06-30 02:00:00", "2026-06-30 03:00:00"


def build_marts(warehouse: DuckDBWarehouse) -> None:
    with warehouse.connect() as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.dim_customers as select 'sk-' || id as customer_sk, id as customer_id, "
            "name as customer_name, cnpj, sha256(lower(trim(email))) as email_sha256, address_state as state, 'Sudeste' as region, tier, status, "
            "true as is_current, false as is_deleted, created_at::date as signup_date, "
            "timestamp '1900-01-01' as valid_from, null::timestamp as valid_to from raw_ops.customers"
        )
        con.execute(
            "create table marts.fact_orders as select i.id as order_item_id, o.id as order_id, o.customer_id, "
            "'sk-' || o.customer_id as customer_sk, i.product_id, o.warehouse_id, o.status as order_status, "
            "o.payment_method, o.payment_status, 'gold' as customer_tier, i.quantity, i.unit_price, "
            "i.quantity * i.unit_price as gross_amount, i.discount as discount_amount, i.tax as tax_amount, "
            "i.total as net_amount, o.status = 'cancelled' as is_cancelled, o.order_date, "
            f"timestamp '{FIRST_BUILD}' as _built_at "
            "from raw_ops.order_items i join raw_ops.orders o on o.id = i.order_id"
        )
        con.execute("create table marts.dim_products as select id as product_id from raw_ops.products")


# fact_orders' key uniqueness and its references are dbt tests (one owner per check, see
# docs/quality.md); the engine still runs both kinds of entry for other suites. These tests
# add the two entries back to the real fact_orders suite to prove the pushed-down SQL
# (every row, sample keys) on a batched fact.
TABLE_SCOPE_ENTRIES = [
    {
        "type": "expect_column_values_to_be_unique",
        "class": "uniqueness",
        "severity": "error",
        "scope": "table",
        "kwargs": {"column": "order_item_id"},
    },
    {
        "type": "expect_column_values_to_exist_in_table",
        "class": "referential_integrity",
        "severity": "error",
        "scope": "table",
        "kwargs": {"column": "customer_sk", "to_table": "dim_customers", "to_column": "customer_sk"},
    },
]


def fact_orders_suite_with_table_scope_entries(root: Path) -> Path:
    """An expectations directory holding fact_orders' suite plus TABLE_SCOPE_ENTRIES."""
    suite = yaml.safe_load((EXPECTATIONS_DIR / "marts" / "fact_orders.yml").read_text())
    suite["expectations"] += TABLE_SCOPE_ENTRIES
    (root / "marts").mkdir(parents=True)
    (root / "marts" / "fact_orders.yml").write_text(yaml.safe_dump(suite, sort_keys=False))
    return root


def test_clean_marts_pass(warehouse: DuckDBWarehouse) -> None:
    build_marts(warehouse)
    for mart, batch in (("dim_customers", None), ("fact_orders", FIRST_BUILD)):
        outcome = run_suite(warehouse, "marts", mart)
        assert outcome.batch_id == batch and outcome.rows_validated > 0
        assert outcome.success, (mart, [r.summary() for r in outcome.failures])


def test_mart_defects_fail_with_sample_keys(warehouse: DuckDBWarehouse, tmp_path: Path) -> None:
    build_marts(warehouse)
    with warehouse.connect() as con:
        bad_net, orphan = (
            r[0]
            for r in con.execute("select order_item_id from marts.fact_orders order by 1 limit 2").fetchall()
        )
        con.execute(
            "update marts.fact_orders set net_amount = net_amount + 1 where order_item_id = ?", [bad_net]
        )
        con.execute("update marts.fact_orders set customer_sk = 'sk-none' where order_item_id = ?", [orphan])
    outcome = run_suite(
        warehouse,
        "marts",
        "fact_orders",
        expectations_dir=fact_orders_suite_with_table_scope_entries(tmp_path / "expectations"),
    )
    net = outcome.failed("expect_column_values_to_equal_expression", "net_amount")
    assert (
        len(net) == 1 and net[0].unexpected_count == 1 and net[0].sample_keys == ({"order_item_id": bad_net},)
    )
    ri = outcome.failed("expect_column_values_to_exist_in_table", "customer_sk")
    assert (
        len(ri) == 1
        and ri[0].sample_keys == ({"order_item_id": orphan},)
        and ri[0].sample_values == ("sk-none",)
    )
    assert len(outcome.failures) == 2


def test_fact_suite_checks_the_latest_build_and_whole_table_rules_every_row(
    warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    """An incremental run merged one line (newer _built_at): the row rules look at that line
    only, while row count, key uniqueness and references still cover every row."""
    build_marts(warehouse)
    with warehouse.connect() as con:
        old_bad, merged, old_orphan, duplicated = (
            r[0]
            for r in con.execute("select order_item_id from marts.fact_orders order by 1 limit 4").fetchall()
        )
        total = con.execute("select count(*) from marts.fact_orders").fetchone()[0]
        con.execute(
            "update marts.fact_orders set net_amount = net_amount + 1 where order_item_id in (?, ?)",
            [old_bad, merged],
        )
        con.execute(
            f"update marts.fact_orders set _built_at = timestamp '{NEXT_BUILD}' where order_item_id = ?",
            [merged],
        )
        con.execute(
            "update marts.fact_orders set customer_sk = 'sk-none' where order_item_id = ?", [old_orphan]
        )
        con.execute(
            "insert into marts.fact_orders select * from marts.fact_orders where order_item_id = ?",
            [duplicated],
        )
    outcome = run_suite(
        warehouse,
        "marts",
        "fact_orders",
        expectations_dir=fact_orders_suite_with_table_scope_entries(tmp_path / "expectations"),
    )
    assert outcome.batch_id == NEXT_BUILD and outcome.rows_validated == 1
    net = outcome.failed("expect_column_values_to_equal_expression", "net_amount")
    assert len(net) == 1 and net[0].sample_keys == ({"order_item_id": merged},)  # not old_bad
    orphans = outcome.failed("expect_column_values_to_exist_in_table", "customer_sk")
    assert len(orphans) == 1 and orphans[0].sample_keys == ({"order_item_id": old_orphan},)
    duplicates = outcome.failed("expect_column_values_to_be_unique", "order_item_id")
    assert len(duplicates) == 1 and duplicates[0].unexpected_count == 2
    assert len(outcome.failures) == 3
    row_count = next(
        r for r in outcome.results if r.expectation_type == "expect_table_row_count_to_be_between"
    )
    assert row_count.success and row_count.validator == "sql" and row_count.observed_value == total + 1
