"""The Great Expectations suites run on BigQuery (the emulator) exactly as on DuckDB.

One tiny demo source is extracted for real into both warehouses. Every raw suite must give
the same outcome on both, expectation by expectation; then defects planted on BigQuery as a
new batch (a null foreign key, a duplicated key, an orphan line) must fail the right
expectation there, with the same counts and sample keys as the same defects on DuckDB.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestration.demo import schema
from orchestration.demo.bigquery_emulator import BigQueryEmulator
from orchestration.demo.generator import Scale, generate
from orchestration.quality import SuiteOutcome, run_suite
from orchestration.warehouse.bigquery_warehouse import BigQueryWarehouse
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.bigquery.conftest import emulator_warehouse
from tests.quality.conftest import extract_all, now_utc

pytestmark = [pytest.mark.bigquery, pytest.mark.slow]


@dataclass
class BothWarehouses:
    duckdb: DuckDBWarehouse
    bigquery: BigQueryWarehouse


@pytest.fixture(scope="module")
def both(
    bigquery_emulator: BigQueryEmulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BothWarehouses]:
    root = tmp_path_factory.mktemp("quality_bq")
    url = f"sqlite:///{root / 'ops.db'}"
    generate(url, Scale.tiny(), seed=7, end=now_utc() - dt.timedelta(days=10))
    duck = DuckDBWarehouse(root / "warehouse.duckdb")
    bq = emulator_warehouse(bigquery_emulator, f"q{uuid.uuid4().hex[:6]}_")
    extract_all(url, duck, root / "landing-duckdb", "initial")
    extract_all(url, bq, root / "landing-bigquery", "initial")
    try:
        yield BothWarehouses(duck, bq)
    finally:
        bq.close()


def comparable(outcome: SuiteOutcome) -> list[tuple]:
    return [
        (
            r.expectation_type,
            r.columns,
            r.success,
            r.unexpected_count,
            None if r.unexpected_percent is None else round(r.unexpected_percent, 6),
            r.sample_keys,
            r.error,
        )
        for r in outcome.results
    ]


def test_every_raw_suite_gives_the_same_outcome_on_both_engines(both: BothWarehouses) -> None:
    for table in schema.TABLES:
        on_duckdb = run_suite(both.duckdb, "raw_ops", table.name)
        on_bigquery = run_suite(both.bigquery, "raw_ops", table.name)
        assert on_bigquery.success, (table.name, [r.summary() for r in on_bigquery.failures])
        assert on_bigquery.rows_validated == on_duckdb.rows_validated > 0
        assert on_bigquery.batch_id == on_duckdb.batch_id == "initial"
        assert comparable(on_bigquery) == comparable(on_duckdb), table.name


def _plant(both: BothWarehouses, table: str, batch_id: str, copies: list[tuple[int, str | None]]) -> None:
    """Append to ``raw_ops.<table>`` on both engines, as batch ``batch_id``, one copy per
    ``(id, replacement)`` of that row's latest version with ``replacement`` (a select-list
    fragment such as ``null as customer_id``) applied and the cursor one second later.
    ``(id, None)`` copies the row just planted for ``id`` once more, cursor and all."""
    cursor = schema.cursor_column(schema.metadata.tables[table])
    bq = both.bigquery
    bq_rel = f"`{bq.table_ref('raw_ops', table)}`"
    bq_ledger = f"`{bq.table_ref('raw_ops', '_loads')}`"
    for row_id, replacement in copies:
        if replacement is None:
            again = f"select * from {{}} where _batch_id = '{batch_id}' and id = {row_id}"
            bq.sql().rows(f"insert into {bq_rel} " + again.format(bq_rel))
            with both.duckdb.connect() as con:
                con.execute(f"insert into raw_ops.{table} " + again.format(f"raw_ops.{table}"))
            continue
        bq.sql().rows(
            f"insert into {bq_rel} select * replace ({replacement}, "
            f"timestamp_add({cursor}, interval 1 second) as {cursor}, "
            f"'{batch_id}' as _batch_id, current_timestamp() as _loaded_at) "
            f"from (select * from {bq_rel} where id = {row_id} "
            f"order by {cursor} desc, _loaded_at desc limit 1)"
        )
        with both.duckdb.connect() as con:
            con.execute(
                f"insert into raw_ops.{table} select * replace ({replacement}, "
                f"{cursor} + interval 1 second as {cursor}, '{batch_id}' as _batch_id, "
                f"now()::timestamp as _loaded_at) "
                f"from (select * from raw_ops.{table} where id = {row_id} "
                f"order by {cursor} desc, _loaded_at desc limit 1)"
            )
    n = len(copies)
    bq.sql().rows(
        f"insert into {bq_ledger} (table_name, batch_id, cursor_column, high_water_mark, rows_landed, "
        f"rows_inserted, loaded_at) select '{table}', '{batch_id}', '{cursor}', max({cursor}), {n}, {n}, "
        f"timestamp_add(current_timestamp(), interval 1 second) from {bq_rel}"
    )
    with both.duckdb.connect() as con:
        con.execute(
            f"insert into raw_ops._loads select '{table}', '{batch_id}', '{cursor}', max({cursor}), {n}, {n}, "
            f"now()::timestamp + interval 1 second from raw_ops.{table}"
        )


def _ids(both: BothWarehouses, table: str, n: int) -> list[int]:
    with both.duckdb.connect(read_only=True) as con:
        return [
            r[0]
            for r in con.execute(f"select distinct id from raw_ops.{table} order by id limit {n}").fetchall()
        ]


def test_planted_defects_fail_the_same_expectations_on_bigquery(both: BothWarehouses) -> None:
    null_customer, duplicated = _ids(both, "orders", 2)
    _plant(
        both,
        "orders",
        "planted-orders",
        [
            (null_customer, "null as customer_id"),
            (duplicated, "'copy' as notes"),
            (duplicated, None),
        ],
    )
    (orphan_line,) = _ids(both, "order_items", 1)
    _plant(both, "order_items", "planted-lines", [(orphan_line, "987654321 as order_id")])

    orders_bq = run_suite(both.bigquery, "raw_ops", "orders")
    orders_duck = run_suite(both.duckdb, "raw_ops", "orders")
    assert orders_bq.batch_id == "planted-orders" and orders_bq.rows_validated == 3
    assert orders_bq.blocking_failure
    assert comparable(orders_bq) == comparable(orders_duck)
    failed = {(r.expectation_type, r.columns) for r in orders_bq.failures}
    assert failed == {
        ("expect_column_values_to_not_be_null", ("customer_id",)),
        ("expect_column_values_to_be_unique", ("id",)),
    }
    unique = orders_bq.outcome("expect_column_values_to_be_unique", "id")
    assert unique.validator == "sql" and unique.unexpected_count == 2
    assert unique.sample_keys == ({"id": duplicated},)
    (not_null,) = orders_bq.failed("expect_column_values_to_not_be_null", "customer_id")
    assert not_null.unexpected_count == 1 and {"id": null_customer} in not_null.sample_keys

    lines_bq = run_suite(both.bigquery, "raw_ops", "order_items")
    assert comparable(lines_bq) == comparable(run_suite(both.duckdb, "raw_ops", "order_items"))
    (orphans,) = lines_bq.failures
    assert orphans.expectation_type == "expect_column_values_to_exist_in_table"
    assert orphans.columns == ("order_id",) and orphans.unexpected_count == 1
    assert orphans.sample_keys == ({"id": orphan_line},) and orphans.sample_values == (987654321,)


def test_the_batch_reaches_great_expectations_with_the_same_dtypes(
    both: BothWarehouses, tmp_path: Path
) -> None:
    frames = {}
    for name, warehouse in (("duckdb", both.duckdb), ("bigquery", both.bigquery)):
        with warehouse.sql().reading() as sql:
            frames[name] = sql.frame(
                f"select * from {sql.relation('raw_ops', 'order_items')} where _batch_id = $b order by id",
                {"b": "initial"},
            )
    duck, bq = frames["duckdb"], frames["bigquery"]
    assert list(bq.columns) == list(duck.columns)
    assert bq.dtypes.astype(str).to_dict() == duck.dtypes.astype(str).to_dict()
    assert len(bq) == len(duck) > 0
    assert bq["total"].sum() == pytest.approx(duck["total"].sum())
